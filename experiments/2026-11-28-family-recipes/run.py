"""BERT, RoBERTa and ALBERT recipes at tiny scale under one token budget, and DistilBERT-style distillation,
on the Gutenberg corpus of ../shared/data (2-core CPU). Every run is the real CLI; results.json, results.md and
the plots are written from the runs' eval_results.json and metrics.jsonl.

    python experiments/2026-11-28-family-recipes/run.py --out=runs/families [--only=recipes|distill]

Pretraining (each): L2/H128 (the quickstart's tiny size; ALBERT E=64, shared layer), 1,000 steps of 32 × 128
tokens (4.1M token positions), AdamW 2e-3 with 100 warmup steps, no dropout, its own 8k vocab trained on the
corpus (WordPiece / byte-level BPE / ALBERT SentencePiece), 5 of the 56 books held out (every 10th).
Fine-tuning (each): SST-2, 4,000 random training sentences (seed 0), 2 epochs, batch 32, lr 2e-4, max length
64, scored on the whole dev set (872), best epoch kept.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
CORPUS = ["--config.data.source=plain", f"--config.data.paths={SHARED}/text-corpus/gutenberg/*.txt",
          "--config.data.dupe_factor=1", "--config.data.eval_document_stride=10"]
SST2 = ["--config.data.train_limit=4000", "--config.num_train_epochs=2", "--config.optim.learning_rate=2e-4",
        "--config.data.max_seq_length=64", f"--config.data.dir={SHARED}/glue/SST-2", "--config.batch_size=32"]


def cli(config: str, workdir: str, *overrides: str) -> dict:
    """Runs (or, when finished, re-evaluates) one run; returns its eval_results.json and wall seconds."""
    start = time.time()
    cmd = [sys.executable, "-m", "bert_jax.main", f"--config={ROOT}/configs/{config}", f"--workdir={workdir}",
           *overrides]
    with open(workdir + ".log", "w") as log:
        subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, check=True)
    results = json.load(open(os.path.join(workdir, "eval_results.json")))
    return {**results, "seconds": round(time.time() - start, 1)}


def pretrain_then_sst2(name: str, config: str, out: str, *overrides: str) -> dict:
    workdir = os.path.join(out, name)
    pre = cli(config, workdir, *overrides)
    fine = cli("glue.py:sst2", workdir + "_sst2", f"--config.init_from={workdir}", *SST2)
    return {"pretrain": pre, "sst2": fine}


def recipes(out: str) -> dict:
    runs = {
        "bert": pretrain_then_sst2("bert", "pretrain_tiny.py", out, *CORPUS),
        "roberta": pretrain_then_sst2("roberta", "pretrain_roberta.py:size=tiny", out, *CORPUS),
        "albert": pretrain_then_sst2("albert", "pretrain_albert.py:size=tiny", out, *CORPUS),
    }
    runs["no_pretraining"] = {"sst2": cli("glue.py:sst2", os.path.join(out, "no_pretraining_sst2"),
                                          "--config.model.preset=tiny", f"--config.data.vocab={out}/bert/model",
                                          *SST2)}
    return runs


def distillation(out: str) -> dict:
    teacher = os.path.join(out, "teacher")
    data = os.path.join(out, "data_full_sentences")  # the students' data: MLM rows with the teacher's vocab
    runs = {"teacher": pretrain_then_sst2("teacher", "pretrain_tiny.py", out, *CORPUS,
                                          "--config.model.num_hidden_layers=4")}
    runs["distilled"] = pretrain_then_sst2("distilled", "distill.py:size=tiny", out, *CORPUS,
                                           f"--config.distill.teacher={teacher}", f"--config.data.dir={data}")
    runs["scratch"] = pretrain_then_sst2(
        "scratch", "pretrain_tiny.py", out, *CORPUS, f"--config.data.dir={data}",
        f"--config.data.vocab={teacher}/model", "--config.data.sentence_task=none",
        "--config.model.model_type=distilbert", "--config.model.type_vocab_size=0", "--config.model.use_pooler=False")
    return runs


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="runs/families")
    parser.add_argument("--only", choices=["recipes", "distill"], default=None)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    results_path = os.path.join(args.out, "results.json")
    results = json.load(open(results_path)) if os.path.exists(results_path) else {}
    if args.only in (None, "recipes"):
        results["recipes"] = recipes(args.out)
        json.dump(results, open(results_path, "w"), indent=1)
    if args.only in (None, "distill"):
        results["distillation"] = distillation(args.out)
        json.dump(results, open(results_path, "w"), indent=1)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

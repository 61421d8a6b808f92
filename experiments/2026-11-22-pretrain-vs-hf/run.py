"""bert_jax vs HF BertForPreTraining (PyTorch): the same mini BERT, the same initial weights, the same
batches and hyperparameters; loss curves on one plot.

    python experiments/2026-11-22-pretrain-vs-hf/run.py --steps 300 --out experiments/2026-11-22-pretrain-vs-hf

Data: the Gutenberg books of ../shared/data/text-corpus (plain text), the uncased BERT vocab, Google's
pairs and masking from bert_jax (static masks, so both see identical inputs). Optimiser on both sides:
AdamW (bias-corrected), lr 5e-4, 10% warmup then linear decay, wd 0.01 off LayerNorm/bias, clip 1.0.
Dropout is on in both (their random streams differ, so curves agree in distribution, not bit for bit).
"""

import argparse
import json
import os
import time

import jax
import numpy as np

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--size", default="mini")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    p.add_argument("--work", default="/tmp/pretrain_vs_hf")
    p.add_argument("--plot-only", action="store_true", help="redraw from OUT/curves.json")
    args = p.parse_args()
    if args.plot_only:
        return plot(args.out)

    import flax.linen as nn
    import torch
    import transformers

    from bert_jax import save_pretrained
    from bert_jax.data import pipeline, sources
    from bert_jax.data.pretraining import MaskOptions, PairOptions, create_pairs
    from bert_jax.data.tokenizer import WordPieceTokenizer
    from bert_jax.models.bert import BertConfig
    from bert_jax.models.heads import BertWithHead, PretrainingHeads
    from bert_jax.optim import create_optimizer, warmup_then_decay
    from bert_jax.step import create_state, train_step
    from bert_jax.tasks.pretrain import pretraining_inputs, pretraining_loss

    torch.manual_seed(0)
    torch.set_num_threads(2)
    tok = WordPieceTokenizer(os.path.join(SHARED, "bert-vocab", "uncased_L-12_H-768_A-12", "vocab.txt"))
    data_dir = os.path.join(args.work, "data")
    if pipeline.read_meta(data_dir) is None:
        docs = sources.read_documents("plain", os.path.join(SHARED, "text-corpus", "gutenberg", "*.txt"))
        tokenized = ([piece.ids for piece in tok.split(d)] for d in docs)
        pairs = create_pairs(tokenized, PairOptions(args.seq), tok.cls_id, tok.sep_id, seed=0)
        n = pipeline.write_pair_shards(pairs, data_dir, "train", args.seq)
        pipeline.write_meta(data_dir, {"pairs": n})
    predictions = int(round(args.seq * 0.15))
    ds = pipeline.pretraining_batches(pipeline.PairSource(data_dir, "train"), args.batch, args.seq,
                                      MaskOptions(max_predictions_per_seq=predictions), tok.special_ids,
                                      tok.mask_id, tok.vocab_size, None, seed=0, dynamic_masking=False,
                                      process_index=0, process_count=1)

    config = BertConfig.preset(args.size, vocab_size=tok.vocab_size)
    model = BertWithHead(config, PretrainingHeads(config))
    warmup = args.steps // 10
    schedule = warmup_then_decay(args.lr, warmup, args.steps)
    tx = create_optimizer("adamw", schedule, weight_decay=0.01, clip_norm=1.0)

    class Task:
        inputs = staticmethod(pretraining_inputs)
        loss = staticmethod(pretraining_loss)

    example = {k: v[:1] for k, v in ds[0].items()}
    state = jax.jit(lambda r: nn.unbox(create_state(r, model=model, tx=tx, example=example, task=Task())))(
        jax.random.PRNGKey(0))
    hf_dir = os.path.join(args.work, "init_hf")
    save_pretrained(state.params, config, hf_dir)  # the peer starts from the very same weights
    hf = transformers.BertForPreTraining.from_pretrained(hf_dir).train()
    no_decay = [p for n, p in hf.named_parameters() if "LayerNorm" in n or n.endswith("bias")]
    decay = [p for n, p in hf.named_parameters() if not ("LayerNorm" in n or n.endswith("bias"))]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, eps=1e-6)
    lr_at = lambda s: float(schedule(s)) / args.lr  # noqa: E731
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    step_fn = jax.jit(lambda s, b: train_step(s, b, model=model, task=Task(), tx=tx), donate_argnums=0)

    curves = {"bert_jax": [], "hf": []}
    times = {"bert_jax": 0.0, "hf": 0.0}
    for step in range(args.steps):
        batch = ds[step]
        t = time.perf_counter()
        state, metrics = step_fn(state, batch)
        curves["bert_jax"].append({k: float(v) for k, v in jax.device_get(metrics).items()})
        times["bert_jax"] += time.perf_counter() - t

        t = time.perf_counter()
        labels = np.full(batch["input_ids"].shape, -100, np.int64)
        w = batch["masked_lm_weights"] > 0
        for i in range(len(labels)):
            labels[i, batch["masked_lm_positions"][i][w[i]]] = batch["masked_lm_ids"][i][w[i]]
        out = hf(input_ids=torch.tensor(batch["input_ids"], dtype=torch.long),
                 token_type_ids=torch.tensor(batch["token_type_ids"], dtype=torch.long),
                 attention_mask=torch.tensor(batch["attention_mask"], dtype=torch.long),
                 labels=torch.tensor(labels), next_sentence_label=torch.tensor(batch["next_sentence_label"],
                                                                               dtype=torch.long))
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(hf.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        curves["hf"].append({"loss": float(out.loss)})
        times["hf"] += time.perf_counter() - t
        if step % 20 == 0:
            print(step, curves["bert_jax"][-1]["loss"], curves["hf"][-1]["loss"], flush=True)

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "curves.json"), "w") as f:
        json.dump({"args": vars(args), "curves": curves, "seconds": times}, f)
    plot(args.out)


def plot(out_dir):
    """loss_curves.png and a summary line from curves.json."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(os.path.join(out_dir, "curves.json")) as f:
        saved = json.load(f)
    curves, args = saved["curves"], saved["args"]
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, color, style in (("hf", "C1", "-"), ("bert_jax", "C0", "--")):
        ys = np.array([r["loss"] for r in curves[name]])
        ax.plot(ys, color=color, alpha=0.25, linestyle=style)
        ax.plot(np.convolve(ys, np.ones(10) / 10, mode="valid"), color=color, linestyle=style,
                label=f"{name} (10-step mean)")
    ax.set_xlabel("step")
    ax.set_ylabel("MLM + NSP loss")
    ax.set_title(f"BERT-{args['size']} pretraining, same init, batches and recipe")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "loss_curves.png"), dpi=100)
    last = slice(-50, None)
    print(json.dumps({name: float(np.mean([r["loss"] for r in curves[name][last]])) for name in curves}),
          json.dumps(saved["seconds"]))


if __name__ == "__main__":
    main()

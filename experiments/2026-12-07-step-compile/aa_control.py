"""A/A control for the in-process step A/Bs (step_ab.py, nested_jit_ab.py, barrier_ab.py): one train step
compiled twice from the same code, each copy with its own state, run in interleaved rounds exactly as the A/Bs
run theirs. Any paired ratio away from 1 is the method's bias, not a code effect.

    JAX_PLATFORMS=cpu python experiments/2026-12-07-step-compile/aa_control.py minilm 9
"""

from __future__ import annotations

import functools
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "2026-12-06-dropout-draws"))
from bert_jax import host_memory  # noqa: E402

host_memory.keep_freed_memory()  # as the CLI's train loop runs (and as the A/Bs ran)

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from step_ab import setup  # noqa: E402

from bert_jax.optim import create_optimizer  # noqa: E402
from bert_jax.step import create_state, train_step  # noqa: E402


def main() -> None:
    what, rounds = sys.argv[1], int(sys.argv[2])
    model, task, batches = setup(what)
    tx = create_optimizer("adamw", 2e-5)
    example = {k: v[:1] for k, v in batches[0].items()}
    device_batches = [jax.device_put({k: jnp.asarray(v) for k, v in b.items()}) for b in batches]
    init = jax.jit(lambda rng: nn.unbox(create_state(rng, model=model, tx=tx, example=example, task=task)))
    steps, states = {}, {}
    for _ in range(2):  # as the A/Bs: each copy compiled twice, the second compile kept
        for name in ("first", "second"):
            states[name] = init(jax.random.PRNGKey(0))
            step = jax.jit(functools.partial(train_step, model=model, task=task, tx=tx), donate_argnums=0)
            steps[name] = step.lower(states[name], device_batches[0]).compile()
    times = {name: [] for name in steps}
    for r in range(rounds):
        for name in list(steps) if r % 2 == 0 else list(steps)[::-1]:
            start = time.perf_counter()
            for b in device_batches:
                states[name], metrics = steps[name](states[name], b)
            jax.block_until_ready(metrics["loss"])
            times[name].append((time.perf_counter() - start) / len(device_batches))
        print(r, {k: round(v[-1] * 1e3) for k, v in times.items()}, flush=True)
    for name, ts in times.items():
        print(f"{name}: median {np.median(ts[1:]) * 1e3:.1f} ms")
    ratio = np.array(times["second"][1:]) / np.array(times["first"][1:])
    print(f"paired second/first (the same program): median {np.median(ratio):.3f}, quartiles "
          f"{np.percentile(ratio, 25):.3f}-{np.percentile(ratio, 75):.3f}")


if __name__ == "__main__":
    main()

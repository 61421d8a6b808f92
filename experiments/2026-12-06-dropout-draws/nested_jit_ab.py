"""Trace + lower and compile of the MiniLM train step at each new width, with and without the three nested
jits (dropout.keep_mask, step._global_norm, step._update_if_finite), swapped at trace time; widths 64-104
alternate which variant goes first.

    JAX_PLATFORMS=cpu python experiments/2026-12-06-dropout-draws/nested_jit_ab.py
"""

from __future__ import annotations

import functools
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from step_ab import minilm_batches, setup  # noqa: E402

from bert_jax import step  # noqa: E402
from bert_jax.models import dropout  # noqa: E402
from bert_jax.optim import create_optimizer  # noqa: E402


def plain_keep_mask(key, rate, shape):
    return dropout.random_draws(key, shape) >= jnp.uint32(dropout._drop_threshold(rate))


def plain_update(raw):
    return lambda *args, tx: raw(*args, tx=tx)


VARIANTS = {
    "plain": {(step, "_global_norm"): step._global_norm.__wrapped__,
              (step, "_update_if_finite"): plain_update(step._update_if_finite.__wrapped__),
              (dropout, "keep_mask"): plain_keep_mask},
    "nested": {(step, "_global_norm"): step._global_norm, (step, "_update_if_finite"): step._update_if_finite,
               (dropout, "keep_mask"): dropout.keep_mask},
}


def main() -> None:
    model, task, _ = setup("minilm")
    tx = create_optimizer("adamw", 2e-5)
    example = {k: v[:1] for k, v in minilm_batches(1, 64)[0].items()}
    state = jax.eval_shape(lambda rng: nn.unbox(step.create_state(rng, model=model, tx=tx, example=example,
                                                                  task=task)), jax.random.PRNGKey(0))
    seconds = {name: {"trace+lower": [], "compile": []} for name in VARIANTS}
    for i, width in enumerate(range(64, 112, 8)):
        for name in list(VARIANTS) if i % 2 else list(VARIANTS)[::-1]:
            for (module, attribute), value in VARIANTS[name].items():
                setattr(module, attribute, value)
            train_step = jax.jit(functools.partial(step.train_step, model=model, task=task, tx=tx),
                                 donate_argnums=0)
            start = time.perf_counter()
            lowered = train_step.trace(state, minilm_batches(1, width)[0]).lower()
            traced = time.perf_counter()
            lowered.compile()
            seconds[name]["trace+lower"].append(traced - start)
            seconds[name]["compile"].append(time.perf_counter() - traced)
            print(f"{name} width {width}: trace+lower {traced - start:.2f} s, "
                  f"compile {seconds[name]['compile'][-1]:.2f} s", flush=True)
    for name, parts in seconds.items():
        print(name, "medians:", {part: round(float(np.median(v)), 2) for part, v in parts.items()})


if __name__ == "__main__":
    main()

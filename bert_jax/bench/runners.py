"""The timed units the benchmarks and the profiler share: our jitted train step and the peer's, each
wrapped as a ``Runner`` that runs a fixed number of steps per call and blocks until they are done."""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from bert_jax.bench import peer
from bert_jax.optim import create_optimizer
from bert_jax.step import create_state, train_step


@dataclasses.dataclass
class Runner:
    """One timed unit of a benchmark: ``call()`` runs ``steps`` steps and blocks until they are done;
    ``hlo()`` (ours only) is the compiled program's HLO text, which the profiler reads kernel kinds from."""

    call: Callable[[], None]
    steps: int = 1
    hlo: Callable[[], str] | None = None
    check: Callable[[], None] = lambda: None  # raises if the timed work produced garbage (a NaN loss)


def ours_train_step(model: nn.Module, task, batches: list[dict], lr: float = 1e-4) -> Runner:
    """Our jitted, buffer-donating train step (AdamW), one call per batch of ``batches``."""
    tx = create_optimizer("adamw", lr)
    example = {k: v[:1] for k, v in batches[0].items()}
    state = jax.jit(lambda r: nn.unbox(create_state(r, model=model, tx=tx, example=example, task=task)))(
        jax.random.PRNGKey(0))
    step = jax.jit(functools.partial(train_step, model=model, task=task, tx=tx), donate_argnums=0)
    device_batches = [jax.device_put({k: jnp.asarray(v) for k, v in b.items()}) for b in batches]
    holder = {"state": state}

    def call():
        for b in device_batches:
            holder["state"], metrics = step(holder["state"], b)
        holder["loss"] = jax.block_until_ready(metrics["loss"])

    return Runner(call, len(batches), lambda: step.lower(holder["state"], device_batches[0]).compile().as_text(),
                  lambda: check_finite(holder["loss"]))


def check_finite(loss) -> None:
    """A timing of a step that produced NaN/Inf measures nothing: refuse it."""
    if not np.isfinite(float(loss)):
        raise FloatingPointError(f"the timed step's loss is {float(loss)}")


def peer_train_step(model, batches: list[dict], dtype: str, lr: float = 1e-4, **adamw_options) -> Runner:
    """One HF training step (forward, backward, fused AdamW) per batch of ``batches`` (dicts of torch
    tensors with labels)."""
    optimizer = peer.adamw(model, lr, **adamw_options)

    def call():
        for b in batches:
            peer.training_step(model, optimizer, b, dtype)
        peer.synchronize()

    return Runner(call, len(batches))

"""Pure train / eval steps: no I/O, no Python state; the trainer jits them with shardings."""

from __future__ import annotations

import functools
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax


@flax.struct.dataclass
class TrainState:
    step: jax.Array  # int32 []; also the data position: batch k is dataset item k
    params: Any
    opt_state: Any
    rng: jax.Array  # base key; step k's dropout key is fold_in(rng, k)


def create_state(rng: jax.Array, *, model: nn.Module, tx: optax.GradientTransformation, example: dict,
                 task) -> TrainState:
    """Fresh state; params stay boxed (nn.Partitioned) so eval_shape can read their logical axes."""
    init_rng, dropout_rng = jax.random.split(rng)
    params = model.init(init_rng, **task.inputs(example))["params"]
    return TrainState(jnp.zeros((), jnp.int32), params, tx.init(params), dropout_rng)


@jax.jit
def _global_norm(tree) -> jax.Array:
    """float32 [] norm of a pytree. Jitted, as is _update_if_finite: the step calls both on trees of the params'
    shapes, the same at every batch width, so JAX traces them once per run instead of once per compiled width
    (~0.9 s of a MiniLM step's ~1.9 s trace). XLA inlines the calls; the compiled step differs only in how the
    norms' sums are split (a float32 ulp at some steps; docs/performance.md, ninth pass)."""
    return optax.global_norm(jax.tree_util.tree_map(lambda x: x.astype(jnp.float32), tree))


def train_step(state: TrainState, batch: dict, schedule_values=None, *, model: nn.Module, task,
               tx) -> tuple[TrainState, dict]:
    """One optimizer step (or one accumulation micro-step with optax.MultiSteps). ``schedule_values``: the
    learning-rate schedule's numbers (optim.WarmupThenDecay.values, float32 [5]) as an input of the program,
    for a ``tx`` made from that schedule; None: the schedule's numbers are compiled in."""
    dropout_rng = jax.random.fold_in(state.rng, state.step)

    def loss_fn(params):
        outputs = model.apply({"params": params}, **task.inputs(batch), deterministic=False,
                              rngs={"dropout": dropout_rng})
        return task.loss(outputs, batch)

    (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    grad_norm = _global_norm(grads)
    # A NaN/Inf loss or gradient (the global norm is non-finite iff some element is) skips the update:
    # params and optimizer state stay as they were, so a non-finite value never reaches a checkpoint.
    # The step still advances (batch k is consumed); the trainer counts skipped steps from "nonfinite".
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
    params, opt_state = _update_if_finite(state.params, state.opt_state, grads, grad_norm, finite, schedule_values,
                                          tx=_Hashed(tx))
    # No update norm: its reduction made XLA materialise every update tensor for one more pass over all
    # params (45 of the optimizer's 170 ms in a MiniLM step on CPU). The param norm only reads the new params.
    metrics = {"loss": loss, "grad_norm": grad_norm, "param_norm": _global_norm(params),
               "nonfinite": 1 - finite.astype(jnp.int32), **aux}
    return TrainState(state.step + 1, params, opt_state, state.rng), metrics


class _Hashed:
    """An optimizer as a static jit argument: equal (and hashed) by identity, so a jitted function traced for one
    optimizer object is reused for that object only, whatever its pytree of functions holds."""

    def __init__(self, tx):
        self.tx = tx

    def __eq__(self, other):
        return isinstance(other, _Hashed) and other.tx is self.tx

    def __hash__(self):
        return id(self.tx)


@functools.partial(jax.jit, static_argnames="tx")
def _update_if_finite(params, opt_state, grads, grad_norm, finite, schedule_values, *, tx: _Hashed):
    """(params, opt_state) after tx's update, or as they were when ``finite`` is False.

    A cond, not a select per leaf: selects read both the old and the new params and moments and write a
    third copy (three extra passes over every param; 40 of a MiniLM step's 110 ms optimizer on CPU),
    while the cond's taken branch updates the donated buffers in place (jitted: see _global_norm)."""

    def update(operands):
        params, opt_state, grads = operands
        # The norm goes to the clip (optim.clip_by_global_norm), which would otherwise compute it again here.
        extra = {} if schedule_values is None else {"schedule_values": schedule_values}
        updates, opt_state = optax.with_extra_args_support(tx.tx).update(grads, opt_state, params,
                                                                         grad_norm=grad_norm, **extra)
        return optax.apply_updates(params, updates), opt_state

    return jax.lax.cond(finite, update, lambda operands: operands[:2], (params, opt_state, grads))


def eval_step(params, batch: dict, *, model: nn.Module, task) -> dict:
    """Per-example predictions (task.predict) of the deterministic model."""
    outputs = model.apply({"params": params}, **task.inputs(batch), deterministic=True)
    return task.predict(outputs, batch)

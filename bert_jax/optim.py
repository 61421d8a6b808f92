"""Optimisers as optax chains: Google's exact BERT Adam, AdamW, LAMB; warmup + decay; clipping; accumulation.

Google's ``AdamWeightDecayOptimizer`` (google-research/bert optimization.py) differs from optax.adamw:
no bias correction, eps 1e-6 added to sqrt(v), and weight decay added to the update before the learning
rate scales it, never to LayerNorm or bias params. ``bert_adam`` reproduces it exactly.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

_NO_DECAY_NAMES = ("LayerNorm", "layer_norm", "bias")


def decay_mask(params: Any) -> Any:
    """True for params that get weight decay: not LayerNorm params and not biases (Google's
    ``_do_use_weight_decay`` name test applied to our param paths)."""

    def decays(path, _):
        names = [str(getattr(k, "key", k)) for k in path]
        return not any(n in name for name in names for n in _NO_DECAY_NAMES)

    return jax.tree_util.tree_map_with_path(decays, params)


SCHEDULE_KINDS = ("linear", "poly", "constant", "linear_after_warmup")


class WarmupThenDecay:
    """Google's schedule: lr = peak·step/warmup while step < warmup, else a polynomial decay from peak to
    ``end`` **counted from step 0** over ``total_steps`` (so it is already below peak when warmup ends),
    as optimization.py computes it. kind: 'linear' (power 1), 'poly' (``power``), 'constant', or
    'linear_after_warmup': HF's get_linear_schedule_with_warmup, whose decay starts at peak when warmup
    ends (post-warmup lr up to total/(total-warmup) × Google's).

    Callable (``schedule(step)``) like any optax schedule. Its numbers are also ``values``, a float32 [5]
    array (peak, warmup_steps, total_steps, power, end) that ``at(step, values)`` reads: a train step that
    takes them as an argument (``create_optimizer`` → ``schedule_values=``) is one program for every
    learning rate, warmup and length, so runs that differ only there share their compiled executables.
    """

    def __init__(self, peak: float, warmup_steps: int, total_steps: int, kind: str = "linear",
                 power: float = 1.0, end: float = 0.0):
        if kind not in SCHEDULE_KINDS:
            raise ValueError(f"schedule kind={kind!r}; expected one of {SCHEDULE_KINDS}")
        if total_steps <= 0 and kind != "constant":
            raise ValueError(f"total_steps must be positive for a decaying schedule, got {total_steps}")
        self.kind = kind
        self.values = np.array([peak, warmup_steps, total_steps, 1.0 if kind == "linear" else power, end],
                               np.float32)

    def __call__(self, step):
        return self.at(step, jnp.asarray(self.values))

    def at(self, step, values):
        """The learning rate at ``step`` (a float32 scalar) from ``values`` (float32 [5], see the class)."""
        peak, warmup, total, power, end = (values[i] for i in range(5))
        step = jnp.asarray(step, jnp.float32)
        if self.kind == "constant":
            decayed = peak
        elif self.kind == "linear_after_warmup":
            decayed = peak * jnp.maximum(0.0, (total - step) / jnp.maximum(1.0, total - warmup))
        else:
            fraction = 1.0 - jnp.minimum(step, total) / total
            if self.kind == "poly":  # linear skips the power: x**1 is x only where XLA folds a constant 1
                fraction = fraction**power
            decayed = (peak - end) * fraction + end
        # warmup 0: step < 0 never holds (the other branch's 0/0 is not selected)
        return jnp.where(step < warmup, peak * step / warmup, decayed)


def warmup_then_decay(peak: float, warmup_steps: int, total_steps: int, kind: str = "linear",
                      power: float = 1.0, end: float = 0.0) -> WarmupThenDecay:
    """The schedule of WarmupThenDecay (see there)."""
    return WarmupThenDecay(peak, warmup_steps, total_steps, kind, power, end)


def scale_by_schedule_values(schedule: WarmupThenDecay) -> optax.GradientTransformationExtraArgs:
    """optax.scale_by_learning_rate(schedule) (same state, same arithmetic: updates × −lr(count)) whose numbers
    come from the ``schedule_values`` extra argument when the caller passes one (a runtime input of the
    compiled step), else from the schedule itself (compiled in as constants)."""

    def init(params):
        del params
        return optax.ScaleByScheduleState(count=jnp.zeros([], jnp.int32))

    def update(updates, state, params=None, *, schedule_values=None, **extra_args):
        del params, extra_args
        values = jnp.asarray(schedule.values) if schedule_values is None else schedule_values
        step_size = -1 * schedule.at(state.count, values)
        updates = jax.tree_util.tree_map(lambda g: jnp.array(step_size, dtype=g.dtype) * g, updates)
        return updates, optax.ScaleByScheduleState(count=optax.safe_increment(state.count))

    return optax.GradientTransformationExtraArgs(init, update)


class ScaleByBertAdamState(NamedTuple):
    mu: Any
    nu: Any


def scale_by_bert_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-6) -> optax.GradientTransformation:
    """m/(sqrt(v)+eps) with no bias correction (Google's AdamWeightDecayOptimizer)."""

    def init(params):
        zeros = lambda p: jnp.zeros_like(p, dtype=jnp.float32)  # noqa: E731
        return ScaleByBertAdamState(jax.tree_util.tree_map(zeros, params), jax.tree_util.tree_map(zeros, params))

    def update(grads, state, params=None):
        mu = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, state.mu, grads)
        nu = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * jnp.square(g), state.nu, grads)
        updates = jax.tree_util.tree_map(lambda m, v: m / (jnp.sqrt(v) + eps), mu, nu)
        return updates, ScaleByBertAdamState(mu, nu)

    return optax.GradientTransformation(init, update)


def clip_by_global_norm(max_norm: float, given_norm: bool = True) -> optax.GradientTransformationExtraArgs:
    """Scales the gradients by ``max_norm / max(norm, max_norm)``, one scalar factor, as Google's
    tf.clip_by_global_norm and torch's clip_grad_norm_ do. optax's clip divides every element by the norm
    and selects between the result and the gradient: XLA keeps that quotient as an array of its own, so each
    gradient was read three times more and written once more inside the optimizer (a memory-bound pass over
    every param: ~4 of a MiniLM fine-tuning step's ~14 passes of optimizer traffic on CPU); a scalar factor
    fuses into the moments' updates. Results differ from optax's by at most an ulp where clipped; unclipped
    gradients are unchanged (the factor is exactly 1).

    ``given_norm``: take the gradients' global norm from the caller, ``update(grads, state, params,
    grad_norm=n)``: train_step computes it for its metrics and its non-finite check outside the cond that guards
    the update, where XLA cannot reuse it (computing it again read every gradient once more, ~1% of a BERT-base
    step on CPU). False (gradient accumulation, which clips the averaged gradient, whose norm no caller has) or
    no ``grad_norm``: the clip computes the norm itself.
    """

    def update(updates, state, params=None, *, grad_norm=None, **extra_args):
        del params, extra_args
        norm = grad_norm if given_norm and grad_norm is not None else optax.tree.norm(updates)
        scale = max_norm / jnp.maximum(norm, max_norm)
        return jax.tree_util.tree_map(lambda t: t * scale.astype(t.dtype), updates), state

    return optax.GradientTransformationExtraArgs(optax.init_empty_state, update)


def create_optimizer(name: str, learning_rate: float | optax.Schedule, *, weight_decay: float = 0.01,
                     b1: float = 0.9, b2: float = 0.999, eps: float | None = None, clip_norm: float | None = 1.0,
                     accumulate_steps: int = 1, mask: Callable | None = decay_mask) -> optax.GradientTransformation:
    """'bert_adam' (Google's, eps 1e-6), 'adamw' (optax, bias-corrected, eps 1e-6 by default) or 'lamb'.

    The chain is: global-norm clip → the optimiser with decoupled weight decay on ``mask`` → −lr.
    ``accumulate_steps`` > 1 wraps it in optax.MultiSteps: gradients of k micro-batches are averaged and
    applied once, equal to one step on the k-times batch.
    """
    parts = []
    if clip_norm:  # accumulation clips the averaged gradient, whose norm no caller has
        parts = [clip_by_global_norm(clip_norm, given_norm=accumulate_steps == 1)]
    eps = 1e-6 if eps is None else eps
    # The learning rate is applied last, as optax.adamw and optax.lamb do (the same chains, state for state).
    if isinstance(learning_rate, WarmupThenDecay):
        scale_by_lr = scale_by_schedule_values(learning_rate)
    else:
        scale_by_lr = optax.scale_by_learning_rate(learning_rate)
    if name == "bert_adam":
        tx = optax.chain(*parts, scale_by_bert_adam(b1, b2, eps), optax.add_decayed_weights(weight_decay, mask),
                         scale_by_lr)
    elif name == "adamw":
        tx = optax.chain(*parts, optax.chain(optax.scale_by_adam(b1, b2, eps), optax.add_decayed_weights(
            weight_decay, mask), scale_by_lr))
    elif name == "lamb":
        tx = optax.chain(*parts, optax.chain(optax.scale_by_adam(b1, b2, eps), optax.add_decayed_weights(
            weight_decay, mask), optax.scale_by_trust_ratio(), scale_by_lr))
    else:
        raise ValueError(f"optimizer {name!r} is not known; expected 'bert_adam', 'adamw' or 'lamb'")
    if accumulate_steps > 1:
        tx = optax.MultiSteps(tx, every_k_schedule=accumulate_steps)
    return tx

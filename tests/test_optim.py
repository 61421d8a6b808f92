"""Optimisers against a NumPy transcription of google-research/bert optimization.py, and accumulation."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from bert_jax.optim import clip_by_global_norm, create_optimizer, decay_mask, warmup_then_decay
from bert_jax.step import TrainState, train_step


def _params(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "dense": {"kernel": rng.normal(size=(4, 3)).astype(np.float32), "bias": rng.normal(size=3).astype(np.float32)},
        "LayerNorm": {"scale": rng.normal(size=3).astype(np.float32), "bias": rng.normal(size=3).astype(np.float32)},
        "word_embeddings": {"embedding": rng.normal(size=(5, 3)).astype(np.float32)},
    }


def published_lr(kind, step, peak, warmup, total, power):
    """The schedules as published, in float64: Google's tf.train.polynomial_decay (end 0) then linear warmup
    (optimization.py); HF's get_linear_schedule_with_warmup for 'linear_after_warmup'."""
    if step < warmup:
        return peak * step / warmup
    if kind == "constant":
        return peak
    if kind == "linear_after_warmup":
        return peak * max(0.0, (total - step) / max(1, total - warmup))
    return peak * (1.0 - min(step, total) / total) ** (power if kind == "poly" else 1.0)


def google_lr(step, init_lr, warmup, total):
    """create_optimizer: polynomial_decay(init_lr, step, total, end=0, power=1), then linear warmup."""
    return published_lr("linear", step, init_lr, warmup, total, 1.0)


def google_adam_step(params, grads, m, v, lr, wd=0.01, b1=0.9, b2=0.999, eps=1e-6, clip=1.0):
    """AdamWeightDecayOptimizer.apply_gradients after tf.clip_by_global_norm, in NumPy."""
    norm = np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in grads.values()))
    out = {}
    for name, p in params.items():
        g = grads[name] * clip / max(norm, clip)
        m[name] = b1 * m[name] + (1 - b1) * g
        v[name] = b2 * v[name] + (1 - b2) * g * g
        update = m[name] / (np.sqrt(v[name]) + eps)
        if not any(s in name for s in ("LayerNorm", "layer_norm", "bias")):  # _do_use_weight_decay
            update += wd * p
        out[name] = p - lr * update
    return out


def _flat(tree):
    return {"/".join(str(k.key) for k in path): np.asarray(x) for path, x in jax.tree_util.tree_leaves_with_path(tree)}


def test_decay_mask_excludes_layernorm_and_bias():
    mask = _flat(decay_mask(_params()))
    assert mask == {"dense/kernel": True, "dense/bias": False, "LayerNorm/scale": False, "LayerNorm/bias": False,
                    "word_embeddings/embedding": True}


def test_schedule_matches_googles():
    schedule = warmup_then_decay(1e-4, warmup_steps=10, total_steps=100)
    for step in [0, 1, 5, 9, 10, 11, 50, 99, 100, 150]:
        assert float(schedule(step)) == pytest.approx(google_lr(step, 1e-4, 10, 100), rel=1e-5, abs=1e-12)  # fp32


def test_linear_after_warmup_matches_transformers_schedule(torch_transformers):
    torch, transformers = torch_transformers
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
    reference = transformers.get_linear_schedule_with_warmup(opt, num_warmup_steps=10, num_training_steps=100)
    schedule = warmup_then_decay(1e-4, warmup_steps=10, total_steps=100, kind="linear_after_warmup")
    for step in range(0, 120):
        assert float(schedule(step)) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-5, abs=1e-12)
        opt.step()
        reference.step()


def test_bert_adam_matches_google_update_rule():
    params = _params()
    schedule = warmup_then_decay(0.05, warmup_steps=2, total_steps=8)
    tx = create_optimizer("bert_adam", schedule, weight_decay=0.01, clip_norm=1.0)
    state = tx.init(params)
    ref = _flat(params)
    m = {k: np.zeros_like(x, np.float64) for k, x in ref.items()}
    v = {k: np.zeros_like(x, np.float64) for k, x in ref.items()}
    rng = np.random.default_rng(1)
    for step in range(6):
        # Large gradients on some steps so clipping is exercised, small on others.
        scale = 3.0 if step % 2 else 0.05
        grads = jax.tree_util.tree_map(lambda p, s=scale: rng.normal(size=p.shape).astype(np.float32) * s, params)
        updates, state = tx.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        ref = google_adam_step(ref, _flat(grads), m, v, google_lr(step, 0.05, 2, 8))
    for name, value in _flat(params).items():
        np.testing.assert_allclose(value, ref[name], rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("name", ["bert_adam", "adamw", "lamb"])
def test_accumulating_k_micro_batches_equals_one_k_times_batch(name):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(16, 4)).astype(np.float32)
    y = rng.normal(size=(16, 3)).astype(np.float32)
    params = {"dense": {"kernel": jnp.asarray(rng.normal(size=(4, 3)), jnp.float32), "bias": jnp.zeros(3)}}

    def loss(p, xb, yb):
        return jnp.mean((xb @ p["dense"]["kernel"] + p["dense"]["bias"] - yb) ** 2)

    grad = jax.jit(jax.grad(loss))
    k = 4
    big, small = create_optimizer(name, 1e-2), create_optimizer(name, 1e-2, accumulate_steps=k)
    p_big, s_big = params, big.init(params)
    p_small, s_small = params, small.init(params)
    for _ in range(3):  # three full steps
        updates, s_big = big.update(grad(p_big, x, y), s_big, p_big)
        p_big = optax.apply_updates(p_big, updates)
        for i in range(k):
            sl = slice(i * 4, (i + 1) * 4)
            updates, s_small = small.update(grad(p_small, x[sl], y[sl]), s_small, p_small)
            p_small = optax.apply_updates(p_small, updates)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5), p_small, p_big)
    assert not np.allclose(p_big["dense"]["kernel"], params["dense"]["kernel"])


def test_unknown_optimizer_and_schedule_are_clear_errors():
    with pytest.raises(ValueError, match="optimizer 'sgdd' is not known"):
        create_optimizer("sgdd", 1e-3)
    with pytest.raises(ValueError, match="schedule kind='cosine'"):
        warmup_then_decay(1e-3, 10, 100, kind="cosine")


@pytest.mark.parametrize("scale", [0.01, 10.0])  # a norm under the limit (no clip) and over it (clipped)
def test_clip_scales_by_one_factor_and_takes_the_callers_norm(scale):
    """g · max_norm / max(norm, max_norm), tf.clip_by_global_norm's and torch's clip_grad_norm_'s form, to the
    bit in float32 (NumPy); within an ulp of optax's divide-then-select; unclipped gradients unchanged."""
    rng = np.random.default_rng(5)
    grads = {"a": jnp.asarray(rng.normal(size=(7, 5)) * scale, jnp.float32),
             "b": jnp.asarray(rng.normal(size=3) * scale, jnp.float32)}
    norm = np.float32(np.sqrt(sum(np.sum(np.square(np.asarray(g, np.float64))) for g in grads.values())))
    factor = np.float32(1.0) / np.maximum(norm, np.float32(1.0))
    optax_clipped, _ = optax.clip_by_global_norm(1.0).update(grads, optax.EmptyState())
    for given_norm in (True, False):
        clip = clip_by_global_norm(1.0, given_norm=given_norm)
        for kwargs in ({}, {"grad_norm": jnp.float32(norm)}):
            got, _ = clip.update(grads, clip.init(grads), None, **kwargs)
            for k in grads:
                np.testing.assert_array_equal(np.asarray(got[k]), np.asarray(grads[k]) * factor)
                np.testing.assert_allclose(np.asarray(got[k]), np.asarray(optax_clipped[k]), rtol=2.5e-7)
                if scale < 1:
                    np.testing.assert_array_equal(np.asarray(got[k]), np.asarray(grads[k]))
    # The given norm is the one used (unless given_norm=False): twice the true norm halves a clipped gradient.
    if scale > 1:
        for given_norm, divisor in ((True, 2), (False, 1)):
            clip = clip_by_global_norm(1.0, given_norm=given_norm)
            got, _ = clip.update(grads, clip.init(grads), None, grad_norm=jnp.float32(2 * norm))
            np.testing.assert_allclose(np.asarray(got["a"]), np.asarray(grads["a"]) * factor / divisor, rtol=1e-6)


def _tiny_step_setup(loss_scale: float = 1.0, seed: int = 7):
    """A Dense(3) model, a squared-error task and one batch of 8: enough for train_step's update path."""

    class Model(nn.Module):
        @nn.compact
        def __call__(self, x, deterministic=True):
            return nn.Dense(3)(x)

    class Task:
        def inputs(self, batch):
            return {"x": batch["x"]}

        def loss(self, outputs, batch):
            return jnp.mean((outputs - batch["y"]) ** 2) * loss_scale, {}

    rng = np.random.default_rng(seed)
    batch = {"x": jnp.asarray(rng.normal(size=(8, 4)), jnp.float32),
             "y": jnp.asarray(rng.normal(size=(8, 3)), jnp.float32)}
    return Model(), Task(), batch


def test_train_step_update_equals_optax_clip_then_adamw():
    """One train_step (the clip reads the step's own gradient norm) against optax's clip_by_global_norm → adamw
    applied by hand to the same gradients."""

    model, task, batch = _tiny_step_setup(loss_scale=1e3, seed=6)  # a large loss: the clip is active
    params = model.init(jax.random.key(0), batch["x"])["params"]
    tx = create_optimizer("adamw", 1e-2)
    state = TrainState(jnp.zeros((), jnp.int32), params, tx.init(params), jax.random.key(1))
    new_state, metrics = jax.jit(lambda s, b: train_step(s, b, model=model, task=task, tx=tx))(state, batch)
    grads = jax.grad(lambda p: task.loss(model.apply({"params": p}, batch["x"]), batch)[0])(params)
    assert float(optax.global_norm(grads)) > 1.0
    reference = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(1e-2, 0.9, 0.999, 1e-6, weight_decay=0.01,
                                                                        mask=decay_mask))
    updates, _ = reference.update(grads, reference.init(params), params)
    want = optax.apply_updates(params, updates)
    for got_leaf, want_leaf in zip(jax.tree_util.tree_leaves(new_state.params), jax.tree_util.tree_leaves(want),
                                   strict=True):
        np.testing.assert_allclose(np.asarray(got_leaf), np.asarray(want_leaf), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(float(metrics["grad_norm"]), float(optax.global_norm(grads)), rtol=1e-6)


@pytest.mark.parametrize("kind", ["linear", "poly", "constant", "linear_after_warmup"])
def test_the_schedule_read_from_its_values_as_a_runtime_input_is_the_published_one(kind):
    """WarmupThenDecay.at(step, values) with the values a traced input, as the train step reads them, against
    the published formulas over warmup, decay and past the end."""
    schedule = warmup_then_decay(3e-4, warmup_steps=7, total_steps=50, kind=kind, power=2.0)
    steps = jnp.arange(60)
    from_input = jax.jit(lambda values: jax.vmap(lambda s: schedule.at(s, values))(steps))(schedule.values)
    want = [published_lr(kind, s, 3e-4, 7, 50, 2.0) for s in range(60)]
    np.testing.assert_allclose(np.asarray(from_input, np.float64), want, rtol=1e-5, atol=1e-12)


def test_a_train_step_is_one_program_for_every_learning_rate_warmup_and_length():
    """The schedule's numbers are an input of the compiled step (train.jit_train_step passes them): two
    optimizers that differ only in peak, warmup and total steps lower to the same program text, so the
    persistent compilation cache serves both; and the update with the numbers as an input equals the update
    with them compiled in."""
    model, task, batch = _tiny_step_setup()
    params = model.init(jax.random.key(0), batch["x"])["params"]
    texts, updates = [], []
    for peak, warmup, total in ((1e-2, 0, 10), (3e-3, 4, 70)):
        schedule = warmup_then_decay(peak, warmup, total)
        tx = create_optimizer("adamw", schedule)
        state = TrainState(jnp.full((), 2, jnp.int32), params, tx.init(params), jax.random.key(1))
        with_input = jax.jit(lambda s, b, v, tx=tx: train_step(s, b, v, model=model, task=task, tx=tx))
        texts.append(with_input.lower(state, batch, schedule.values).as_text())
        compiled_in = jax.jit(lambda s, b, tx=tx: train_step(s, b, model=model, task=task, tx=tx))
        for _ in range(3):  # count 0, 1, 2: warmup steps and decay steps
            state_in, _ = with_input(state, batch, schedule.values)
            state_const, _ = compiled_in(state, batch)
            for a, b in zip(jax.tree_util.tree_leaves(state_in.params), jax.tree_util.tree_leaves(state_const.params),
                            strict=True):
                np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-9)
            state = state_in
        updates.append(jax.tree_util.tree_leaves(state.params)[0])
    assert texts[0] == texts[1]
    assert not np.allclose(updates[0], updates[1])  # the numbers did reach the update


def test_frozen_params_pass_the_schedule_values_on_and_let_the_clip_measure_the_trained_gradients():
    """train.with_frozen_params (distillation's frozen teacher): the schedule's numbers reach the learning rate, and
    the clip measures the student's gradients, not the norm train_step took over the teacher's too."""
    from bert_jax.train import with_frozen_params

    class Task:
        frozen_subtrees = (("teacher",),)

    rng = np.random.default_rng(3)
    params = {"student": {"kernel": jnp.asarray(rng.normal(size=(4, 3)), jnp.float32)},
              "teacher": {"kernel": jnp.asarray(rng.normal(size=(4, 3)), jnp.float32)}}
    grads = {"student": {"kernel": jnp.asarray(rng.normal(size=(4, 3)), jnp.float32)},
             "teacher": {"kernel": jnp.asarray(rng.normal(size=(4, 3)) * 100, jnp.float32)}}
    schedule = warmup_then_decay(1e-2, 0, 10)
    tx = create_optimizer("adamw", schedule, clip_norm=1.0)
    frozen = with_frozen_params(tx, Task())
    other = np.array(schedule.values)
    other[0] = 5e-3  # another peak learning rate
    updates, _ = frozen.update(grads, frozen.init(params), params, grad_norm=optax.global_norm(grads),
                               schedule_values=jnp.asarray(other))
    student_only, _ = tx.update(grads["student"], tx.init(params["student"]), params["student"],
                                schedule_values=jnp.asarray(other))
    np.testing.assert_allclose(updates["student"]["kernel"], student_only["kernel"], rtol=1e-6)
    assert not np.any(np.asarray(updates["teacher"]["kernel"]))
    at_the_schedules_own, _ = tx.update(grads["student"], tx.init(params["student"]), params["student"])
    np.testing.assert_allclose(updates["student"]["kernel"], np.asarray(at_the_schedules_own["kernel"]) / 2, rtol=1e-6)

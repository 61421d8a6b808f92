"""The shared cross-entropy against optax's (the reference): same values and gradients, and no scatter in
its compiled gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from bert_jax.tasks.losses import cross_entropy_with_integer_labels


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_values_and_gradients_equal_optax(dtype):
    rng = np.random.default_rng(0)
    logits = jnp.asarray(rng.normal(0, 8, (4, 19, 1000)), dtype)  # large logits: logsumexp must stay exact
    labels = jnp.asarray(rng.integers(0, 1000, (4, 19)), jnp.int32)
    weights = jnp.asarray(rng.random((4, 19)), jnp.float32)
    ours = cross_entropy_with_integer_labels(logits, labels)
    reference = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    np.testing.assert_array_equal(np.asarray(ours, np.float32), np.asarray(reference, np.float32))

    def loss(fn):
        return jax.grad(lambda z: jnp.sum(fn(z.astype(jnp.float32), labels) * weights))(logits)

    tol = 1e-6 if dtype == jnp.float32 else 1e-2
    np.testing.assert_allclose(np.asarray(loss(cross_entropy_with_integer_labels), np.float32),
                               np.asarray(loss(optax.softmax_cross_entropy_with_integer_labels), np.float32),
                               atol=tol, rtol=0)


def test_infinite_logits_of_other_classes_do_not_poison_the_label_logit():
    logits = jnp.array([[3.0, -jnp.inf, 1.0]])
    assert float(cross_entropy_with_integer_labels(logits, jnp.array([0]))[0]) == pytest.approx(
        float(jax.nn.logsumexp(logits) - 3.0))


def test_gradient_has_no_scatter_where_optax_has_one():
    logits = jnp.zeros((8, 19, 512))
    labels = jnp.zeros((8, 19), jnp.int32)

    def hlo(fn):
        grad = jax.jit(jax.grad(lambda z, y: jnp.sum(fn(z, y))))
        return grad.lower(logits, labels).compile().as_text()

    assert " scatter(" in hlo(optax.softmax_cross_entropy_with_integer_labels)  # the control: the check can fail
    assert " scatter(" not in hlo(cross_entropy_with_integer_labels)


def test_pretraining_mlm_accuracy_counts_argmax_hits():
    """The MLM accuracy of the pretraining loss (label logit ≥ the max, no argmax) equals the weighted
    fraction of argmax == label on logits without ties."""
    from bert_jax.tasks.pretrain import pretraining_loss

    rng = np.random.default_rng(1)
    logits = rng.normal(0, 1, (4, 6, 50)).astype(np.float32)
    labels = rng.integers(0, 50, (4, 6)).astype(np.int32)
    labels[:, :3] = logits[:, :3].argmax(-1)  # half the predictions right
    weights = (rng.random((4, 6)) < 0.8).astype(np.float32)
    outputs = {"mlm_logits": jnp.asarray(logits), "nsp_logits": jnp.zeros((4, 2))}
    batch = {"masked_lm_ids": jnp.asarray(labels), "masked_lm_weights": jnp.asarray(weights),
             "next_sentence_label": jnp.zeros(4, jnp.int32)}
    _, aux = pretraining_loss(outputs, batch)
    expected = np.sum((logits.argmax(-1) == labels) * weights) / (weights.sum() + 1e-5)
    assert float(aux["mlm_accuracy"]) == pytest.approx(expected, rel=1e-6)
    assert 0.3 < expected < 0.9  # the check sees hits and misses

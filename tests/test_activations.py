"""The exact GELU (models/activations.py) against PyTorch's: values and gradients, float32 and bfloat16."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import ndtr

from bert_jax.models.activations import gelu
from bert_jax.models.config import BertConfig

torch = pytest.importorskip("torch")

# Dense around the origin, the tails where erf saturates, and exact zeros.
X = np.concatenate([np.linspace(-10, 10, 4001), np.random.default_rng(0).normal(0, 3, 20000), [0.0, -0.0]])
X = X.astype(np.float32)


def _torch_gelu_and_gradient(x: np.ndarray, cotangent: np.ndarray, dtype) -> tuple[np.ndarray, np.ndarray]:
    t = torch.tensor(x, dtype=dtype, requires_grad=True)
    y = torch.nn.functional.gelu(t)
    y.backward(torch.tensor(cotangent, dtype=dtype))
    return y.detach().float().numpy(), t.grad.float().numpy()


def test_float32_values_and_gradient_against_float64_and_torch():
    """The float64 truth x·Φ(x) and its slope Φ(x) + x·φ(x) (scipy), then torch's erf-form GELU. Below x ≈ -2
    the erf form loses digits to 1 + erf(x/√2) cancelling (as torch's does): absolute errors stay ~1e-6 there."""
    x64 = X.astype(np.float64)
    truth, slope = x64 * ndtr(x64), ndtr(x64) + x64 * np.exp(-0.5 * x64 ** 2) / np.sqrt(2 * np.pi)
    y, vjp = jax.jit(lambda x: jax.vjp(gelu, x))(jnp.asarray(X))
    (grad,) = vjp(jnp.ones_like(y))
    y, grad = np.asarray(y, np.float64), np.asarray(grad, np.float64)
    centre = x64 > -1.0  # no cancellation: float32 rounding only
    np.testing.assert_allclose(y[centre], truth[centre], rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(grad[centre], slope[centre], rtol=2e-6, atol=1e-7)
    assert np.abs(y - truth).max() < 1.5e-6 and np.abs(grad - slope).max() < 3e-7
    want_y, want_grad = _torch_gelu_and_gradient(X, np.ones_like(X), torch.float32)
    np.testing.assert_allclose(y, want_y, rtol=2e-6, atol=2.5e-6)
    np.testing.assert_allclose(grad, want_grad, rtol=2e-6, atol=5e-7)


def test_bfloat16_is_computed_in_float32_and_rounded_once_like_torch():
    x = X[np.abs(X) < 8]
    cotangent = np.random.default_rng(2).normal(size=x.shape).astype(np.float32)
    x16, c16 = jnp.asarray(x, jnp.bfloat16), jnp.asarray(cotangent, jnp.bfloat16)
    want_y, want_grad = _torch_gelu_and_gradient(np.asarray(x16, np.float32), np.asarray(c16, np.float32),
                                                 torch.bfloat16)
    y, vjp = jax.jit(lambda x: jax.vjp(gelu, x))(x16)
    (grad,) = vjp(c16)
    assert y.dtype == grad.dtype == jnp.bfloat16
    # One bf16 rounding of the same float32 value: equal, or one unit in the last place apart.
    np.testing.assert_allclose(np.asarray(y, np.float32), want_y, rtol=2 ** -7, atol=1e-6)
    np.testing.assert_allclose(np.asarray(grad, np.float32), want_grad, rtol=2 ** -7, atol=1e-6)


def test_second_derivative_through_the_hand_written_gradient():
    """The backward rule is itself differentiable: d²/dx² gelu = φ(x)·(2 - x²), by hand."""
    x = jnp.linspace(-4.0, 4.0, 81)
    second = jax.vmap(jax.grad(jax.grad(gelu)))(x)
    phi = np.exp(-0.5 * np.asarray(x) ** 2) / np.sqrt(2 * np.pi)
    np.testing.assert_allclose(np.asarray(second), phi * (2 - np.asarray(x) ** 2), rtol=1e-5, atol=1e-6)


def test_the_config_picks_it_for_gelu_and_keeps_the_tanh_form():
    assert BertConfig(hidden_act="gelu").activation() is gelu
    tanh = BertConfig(hidden_act="gelu_new").activation()
    x = jnp.linspace(-3.0, 3.0, 13)
    np.testing.assert_allclose(np.asarray(tanh(x)), np.asarray(jax.nn.gelu(x, approximate=True)), rtol=1e-6)

"""The exact (erf) GELU with a hand-written gradient that keeps only its input for the backward pass.

``jax.nn.gelu(x, approximate=False)`` computes ``x · erfc(-x/√2) / 2``; differentiated by JAX, the backward
pass of a BERT-base step re-reads what the forward pass left for it and evaluates erfc's derivative, and on
a 2-core CPU the activation cost 4% of the step beside a ReLU. Here the forward pass is PyTorch's formula,
``x · (1 + erf(x/√2)) / 2`` (what transformers' "gelu" runs), and the backward pass is torch's too:
``g · (Φ(x) + x·φ(x))`` with Φ(x) = (1 + erf(x/√2))/2 and φ the standard normal density, recomputed from the
saved input (the FFN's pre-activation, [batch, seq, intermediate]). Measured in docs/performance.md (eighth
pass). Low-precision inputs are computed in float32 and rounded once, as torch's opmath does.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

_SQRT_HALF = np.float32(np.sqrt(0.5))
_INV_SQRT_2PI = np.float32(1.0 / np.sqrt(2.0 * np.pi))


def _normal_cdf(x: jax.Array) -> jax.Array:
    return 0.5 * (1.0 + jax.lax.erf(x * _SQRT_HALF))


@jax.custom_vjp
def gelu(x: jax.Array) -> jax.Array:
    """Exact GELU, ``x · Φ(x)``, elementwise over any shape; the result has ``x``'s dtype."""
    x32 = x.astype(jnp.float32)
    return (x32 * _normal_cdf(x32)).astype(x.dtype)


def _gelu_forward(x):
    return gelu(x), x


def _gelu_backward(x, grad):
    x32 = x.astype(jnp.float32)
    slope = _normal_cdf(x32) + x32 * _INV_SQRT_2PI * jnp.exp(-0.5 * x32 * x32)
    return ((grad.astype(jnp.float32) * slope).astype(x.dtype),)


gelu.defvjp(_gelu_forward, _gelu_backward)

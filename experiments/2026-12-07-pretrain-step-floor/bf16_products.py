"""bf16 products on this CPU: XLA (YNNPACK) against torch (MKL), and which of a dense layer's three products
(forward, input gradient, weight gradient) reach the bf16 rate. BERT-base's FFN shape, 1024 tokens.

    JAX_PLATFORMS=cpu python experiments/2026-12-07-pretrain-step-floor/bf16_products.py
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import torch

from bert_jax.bench.timing import median_seconds

TOKENS, HIDDEN, FFN = 1024, 768, 3072
FLOPS = 2 * TOKENS * HIDDEN * FFN
CONTRACT_LAST_FIRST = (((1,), (0,)), ((), ()))  # x [m, k] · w [k, n]
CONTRACT_LAST_LAST = (((1,), (1,)), ((), ()))  # g [m, n] · w [k, n]ᵀ: the input gradient
CONTRACT_FIRST_FIRST = (((0,), (0,)), ((), ()))  # x [m, k]ᵀ · g [m, n]: the weight gradient


def gflops(fn, *args, repeats: int = 20) -> float:
    """One product's rate: FLOPS over the median of ``repeats`` calls of jitted ``fn`` after one warm-up."""
    return FLOPS / median_seconds(lambda: jax.block_until_ready(fn(*args)), repeats) / 1e9


def torch_gflops(a, b, repeats: int = 20) -> float:
    return FLOPS / median_seconds(lambda: torch.mm(a, b), repeats) / 1e9


@jax.custom_vjp
def accumulating_product(x, w):
    """x · w with bf16 operands accumulated into fp32 (then rounded), forward and both backward products."""
    return jnp.dot(x, w, preferred_element_type=jnp.float32).astype(x.dtype)


def _accumulating_forward(x, w):
    return accumulating_product(x, w), (x, w)


def _accumulating_backward(saved, g):
    x, w = saved
    return (jnp.dot(g, w.T, preferred_element_type=jnp.float32).astype(x.dtype),
            jnp.dot(x.T, g, preferred_element_type=jnp.float32).astype(w.dtype))


accumulating_product.defvjp(_accumulating_forward, _accumulating_backward)


def dense_forward_backward_gflops(product, x, w, g) -> float:
    """A dense layer's three products (forward, input and weight gradients) as one jitted vjp."""
    def layer(x, w, g):
        y, pull_back = jax.vjp(product, x, w)
        return (y, *pull_back(g.astype(y.dtype)))  # y returned, so the forward product is not dead code

    return 3 * gflops(jax.jit(layer), x, w, g)


def main() -> None:
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    shapes = ((TOKENS, HIDDEN), (HIDDEN, FFN), (TOKENS, FFN))
    x, w, g = (jax.random.normal(k, s) for k, s in zip(keys, shapes, strict=True))
    bf16, f32 = jnp.bfloat16, jnp.float32

    def product(dims, out):
        return jax.jit(lambda a, b: jax.lax.dot_general(a, b, dims, preferred_element_type=out))

    rows = [
        ("forward, fp32", product(CONTRACT_LAST_FIRST, f32), x, w),
        ("forward, bf16 → bf16 (what bf16 layers run)", product(CONTRACT_LAST_FIRST, bf16), x.astype(bf16),
         w.astype(bf16)),
        ("forward, bf16 → fp32", product(CONTRACT_LAST_FIRST, f32), x.astype(bf16), w.astype(bf16)),
        ("input gradient, bf16 → fp32", product(CONTRACT_LAST_LAST, f32), g.astype(bf16), w.astype(bf16)),
        ("weight gradient, bf16 → fp32", product(CONTRACT_FIRST_FIRST, f32), x.astype(bf16), g.astype(bf16)),
    ]
    for name, fn, a, b in rows:
        print(f"XLA   {name:46s} {gflops(fn, a, b):6.1f} GFLOP/s", flush=True)
    bf16_layer = {"fp32": lambda x, w: jnp.dot(x, w),
                  "bf16, bf16 out (today's layers)": lambda x, w: jnp.dot(x.astype(bf16), w.astype(bf16)),
                  "bf16, fp32-accumulating custom VJP": lambda x, w: accumulating_product(x.astype(bf16),
                                                                                          w.astype(bf16))}
    for name, product in bf16_layer.items():
        print(f"XLA   dense fwd + bwd, {name:36s} {dense_forward_backward_gflops(product, x, w, g):6.1f} GFLOP/s",
              flush=True)
    tx, tw = torch.from_numpy(np.array(x)), torch.from_numpy(np.array(w))  # writable copies
    print(f"torch {'forward, fp32':46s} {torch_gflops(tx, tw):6.1f} GFLOP/s")
    print(f"torch {'forward, bf16 → bf16':46s} {torch_gflops(tx.bfloat16(), tw.bfloat16()):6.1f} GFLOP/s")


if __name__ == "__main__":
    main()

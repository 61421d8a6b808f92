"""The FFN kernel gradient of BERT-base (x [8, 128, 768], output gradient [8, 128, 3072]) as the old dense layer
posed it (contracting batch and seq: XLA:CPU transposes the gradient, then a YNNPACK product) and as
token_product poses it (one token axis: one Eigen product, operands read in place); interleaved rounds. The
output gradient comes out of an element-wise fusion, as GELU's backward makes it in the step.

    JAX_PLATFORMS=cpu python experiments/2026-12-07-token-axis/kernel_gradient_product.py [rounds]
"""

from __future__ import annotations

import sys

import jax
from jax import lax

from bert_jax.bench.timing import interleaved_seconds

FORMS = {
    "batch and seq contracted (old)": lambda x, g: lax.dot_general(x, g * 1.0001, (((0, 1), (0, 1)), ((), ()))),
    "one token axis (token_product)": lambda x, g: lax.dot_general(
        x.reshape(1024, 768), (g * 1.0001).reshape(1024, 3072), (((0,), (0,)), ((), ()))),
}


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    x = jax.random.normal(jax.random.PRNGKey(0), (8, 128, 768))
    g = jax.random.normal(jax.random.PRNGKey(1), (8, 128, 3072))
    calls = {}
    for name, form in FORMS.items():
        compiled = jax.jit(form).lower(x, g).compile()
        ops = [line.split("=")[0].strip() for line in compiled.as_text().split("ENTRY")[1].splitlines()
               if line.strip().startswith(("%", "ROOT")) and "parameter(" not in line]
        print(f"{name}: {', '.join(ops)}")
        calls[name] = lambda compiled=compiled: compiled(x, g).block_until_ready()
        calls[name]()
    for name, value in interleaved_seconds(calls, rounds).items():
        print(f"{name:32s} median {1e3 * value:6.2f} ms  ({2 * 1024 * 768 * 3072 / value / 1e9:.0f} GFLOP/s)")


if __name__ == "__main__":
    main()

"""Is an input-gradient product (g · Wᵀ, the kernel's contracting axis last: rhs_contracting_dims={1}) slower
than a forward one on XLA:CPU? `bench profile` showed those products at ~110 GFLOP/s against ~205 for the
forward ones; alone, each form is timed here at the BERT-base and BERT-tiny FFN shapes (interleaved rounds).

    JAX_PLATFORMS=cpu python experiments/2026-12-07-token-axis/input_gradient_products.py [rounds]
"""

from __future__ import annotations

import sys

import jax
from jax import lax

from bert_jax.bench.timing import interleaved_seconds

SHAPES = [(1024, 768, 3072), (1024, 3072, 768), (4096, 128, 512), (4096, 512, 128)]  # tokens, in, out


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    for tokens, d_in, d_out in SHAPES:
        g = jax.random.normal(jax.random.PRNGKey(0), (tokens, d_out))
        x = jax.random.normal(jax.random.PRNGKey(2), (tokens, d_in))
        w = jax.random.normal(jax.random.PRNGKey(1), (d_in, d_out))
        forms = {
            "g·Wᵀ (rhs contracting 1)": jax.jit(lambda g, x, w: lax.dot_general(g, w, (((1,), (1,)), ((), ())))),
            "g·copy(Wᵀ)": jax.jit(lambda g, x, w: g @ (w.T + 0.0)),
            "x·W (forward)": jax.jit(lambda g, x, w: x @ w),
        }
        calls = {}
        for name, fn in forms.items():
            fn(g, x, w).block_until_ready()
            calls[name] = lambda fn=fn, args=(g, x, w): fn(*args).block_until_ready()
        seconds = interleaved_seconds(calls, rounds)
        flop = 2 * tokens * d_in * d_out
        print(f"tokens {tokens}, in {d_in}, out {d_out}: " + "  ".join(
            f"{name} {1e3 * s:.2f} ms ({flop / s / 1e9:.0f} GFLOP/s)" for name, s in seconds.items()))


if __name__ == "__main__":
    main()

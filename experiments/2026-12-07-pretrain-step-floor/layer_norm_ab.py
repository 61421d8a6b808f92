"""LayerNorm (with the residual add) fwd + bwd at BERT-base 8 x 128 x 768: flax.linen.LayerNorm, as the model
runs it, against a hand-written VJP; interleaved, medians of 50.

    JAX_PLATFORMS=cpu python experiments/2026-12-07-pretrain-step-floor/layer_norm_ab.py
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from bert_jax.bench.timing import interleaved_seconds

EPS = 1e-12
SHAPE = (8, 128, 768)


def _normalise(x):
    mean = jnp.mean(x, -1, keepdims=True)
    centred = x - mean
    return centred, mean, jax.lax.rsqrt(jnp.mean(centred * centred, -1, keepdims=True) + EPS)


@jax.custom_vjp
def layer_norm(x, scale, bias):
    centred, _, rstd = _normalise(x)
    return centred * rstd * scale + bias


def _forward(x, scale, bias):
    centred, mean, rstd = _normalise(x)
    return centred * rstd * scale + bias, (x, mean, rstd, scale)


def _backward(saved, g):
    x, mean, rstd, scale = saved
    normalised = (x - mean) * rstd
    g_scaled = g * scale
    dx = rstd * (g_scaled - jnp.mean(g_scaled, -1, keepdims=True)
                 - normalised * jnp.mean(g_scaled * normalised, -1, keepdims=True))
    batch_axes = tuple(range(x.ndim - 1))
    return dx, jnp.sum(g * normalised, batch_axes), jnp.sum(g, batch_axes)


layer_norm.defvjp(_forward, _backward)


def main() -> None:
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    x, residual, cotangent = (jax.random.normal(k, SHAPE) for k in keys[:3])
    module = nn.LayerNorm(epsilon=EPS)
    params = module.init(keys[3], x)

    def flax_ln(p, x, residual):
        return module.apply(p, x + residual)

    def hand_ln(p, x, residual):
        return layer_norm(x + residual, p["params"]["scale"], p["params"]["bias"])

    programs = {}
    for name, fn in (("flax", flax_ln), ("flax (A/A copy)", flax_ln), ("hand-written VJP", hand_ln)):
        def fwd_bwd(p, x, residual, cotangent, fn=fn):
            y, pull_back = jax.vjp(fn, p, x, residual)
            return y, pull_back(cotangent)
        programs[name] = jax.jit(fwd_bwd)
    outs = [jax.tree_util.tree_leaves(programs[name](params, x, residual, cotangent))
            for name in ("flax", "hand-written VJP")]
    print("max |difference| flax vs hand-written:",
          max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(*outs, strict=True)))
    calls = {name: (lambda program=program: jax.block_until_ready(program(params, x, residual, cotangent)))
             for name, program in programs.items()}
    for call in calls.values():
        call()  # compiles
    for name, value in interleaved_seconds(calls, 50).items():
        print(f"{name:18s} median {1e3 * value:6.3f} ms  max/min {value.spread:.2f}x")

if __name__ == "__main__":
    main()

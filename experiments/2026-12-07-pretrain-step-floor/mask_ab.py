"""The attention core (models/attention.xla_attention) fwd + bwd at BERT-base 8 x 128: the padding mask as a
select (as the model does), as an additive bias (HF's form), and no mask; interleaved, medians of 30.

    JAX_PLATFORMS=cpu python experiments/2026-12-07-pretrain-step-floor/mask_ab.py
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from bert_jax.bench.timing import interleaved_seconds
from bert_jax.models.attention import xla_attention

BATCH, SEQ, HEADS, HEAD_DIM = 8, 128, 12, 64


def bias_attention(query, key, value, attention_mask):
    """xla_attention with the mask added as 0 / float32 min instead of selected."""
    query, key, value = (jnp.transpose(x, (0, 2, 1, 3)) for x in (query, key, value))
    logits = jnp.einsum("bhqd,bhkd->bhqk", query, key, preferred_element_type=jnp.float32) * HEAD_DIM**-0.5
    bias = jnp.where(attention_mask.astype(bool), 0.0, jnp.finfo(jnp.float32).min)[:, None, None, :]
    probs = jax.nn.softmax(logits + bias, axis=-1)
    return jnp.transpose(jnp.einsum("bhqk,bhkd->bhqd", probs, value), (0, 2, 1, 3))


def main() -> None:
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    query, key, value, cotangent = (jax.random.normal(k, (BATCH, SEQ, HEADS, HEAD_DIM)) for k in keys)
    mask = jnp.ones((BATCH, SEQ), jnp.int32).at[0, 100:].set(0)  # one padded row
    variants = {
        "select (the model)": lambda q, k, v, m: xla_attention(q, k, v, attention_mask=m),
        "select (A/A copy)": lambda q, k, v, m: xla_attention(q, k, v, attention_mask=m),
        "additive bias": bias_attention,
        "no mask": lambda q, k, v, m: xla_attention(q, k, v),
    }
    programs = {}
    for name, fn in variants.items():
        def fwd_bwd(q, k, v, m, cotangent, fn=fn):
            return jax.vjp(lambda q, k, v: fn(q, k, v, m), q, k, v)[1](cotangent)
        programs[name] = jax.jit(fwd_bwd)
    args = (query, key, value, mask, cotangent)
    select, bias = programs["select (the model)"](*args), programs["additive bias"](*args)
    print("max |gradient difference| select vs bias:",
          max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(select, bias, strict=True)))
    calls = {name: (lambda program=program: jax.block_until_ready(program(*args)))
             for name, program in programs.items()}
    for call in calls.values():
        call()  # compiles
    for name, value in interleaved_seconds(calls, 30).items():
        print(f"{name:20s} median {1e3 * value:7.2f} ms  max/min {value.spread:.2f}x")

if __name__ == "__main__":
    main()

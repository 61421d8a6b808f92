"""The draws before the ninth pass (the "before" of both A/Bs): a hash's four 16-bit fields as four blocks
concatenated on the last axis (positions w, w+W, w+2W, w+3W), the layout XLA fused as four branches."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from bert_jax.models import dropout


def concatenated_draws(key, shape):
    """uint32 draws in [0, 65536) of `shape`, the concatenated layout."""
    if not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.wrap_key_data(key)
    *lead, last = tuple(shape) if shape else (1,)
    mask16 = jnp.uint32(0xFFFF)
    hi, lo = dropout._threefry_words(key, (*lead, -(-last // 4)))
    parts = [hi & mask16, hi >> 16, lo & mask16, lo >> 16]
    return jnp.concatenate(parts, axis=-1)[..., :last].reshape(shape)

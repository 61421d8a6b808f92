"""Scaled dot-product attention behind one function and one config switch.

Every implementation takes the same arguments: a padding mask (``attention_mask``, 1 = real token) and
optional packing ``segment_ids`` (tokens attend only to keys of the same segment). The XLA version is the
reference; accelerator kernels (cuDNN, TPU splash) register here under their own name.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp


def attention_bias_mask(attention_mask: jax.Array | None, segment_ids: jax.Array | None) -> jax.Array | None:
    """Boolean mask [batch, 1, q_len, k_len] of the (query, key) pairs that may attend, or None.

    Args:
      attention_mask: [batch, seq] with 1 (or True) at real tokens; masks keys only, as BERT does, so
        padded queries still produce (ignored) outputs from the real keys.
      segment_ids: [batch, seq] ints for packed rows; a query sees only keys with the same id.
    """
    mask = None
    if attention_mask is not None:
        mask = attention_mask.astype(bool)[:, None, None, :]
    if segment_ids is not None:
        same_segment = segment_ids[:, None, :, None] == segment_ids[:, None, None, :]
        mask = same_segment if mask is None else mask & same_segment
    return mask


def xla_attention(
    query: jax.Array,
    key: jax.Array,
    value: jax.Array,
    *,
    attention_mask: jax.Array | None = None,
    segment_ids: jax.Array | None = None,
    dropout_rate: float = 0.0,
    dropout_rng: jax.Array | None = None,
    deterministic: bool = True,
) -> jax.Array:
    """Plain einsum attention; logits and softmax in float32 whatever the compute dtype.

    Args:
      query, key, value: [batch, seq, heads, head_dim].
    Returns:
      [batch, q_len, heads, head_dim] in the dtype of ``value``.
    """
    head_dim = query.shape[-1]
    logits = jnp.einsum("bqhd,bkhd->bhqk", query, key, preferred_element_type=jnp.float32)
    logits = logits * (head_dim**-0.5)
    mask = attention_bias_mask(attention_mask, segment_ids)
    if mask is not None:
        # Same large negative bias as HF BERT's extended mask; a fully masked row becomes uniform, not NaN.
        logits = jnp.where(mask, logits, jnp.finfo(jnp.float32).min)
    probs = jax.nn.softmax(logits, axis=-1)
    if not deterministic and dropout_rate > 0.0:
        keep = jax.random.bernoulli(dropout_rng, 1.0 - dropout_rate, probs.shape)
        probs = jnp.where(keep, probs / (1.0 - dropout_rate), 0.0)
    return jnp.einsum("bhqk,bkhd->bqhd", probs.astype(value.dtype), value)


IMPLEMENTATIONS: dict[str, Callable[..., jax.Array]] = {"xla": xla_attention}


def dot_product_attention(query, key, value, *, implementation: str = "xla", **kwargs) -> jax.Array:
    """Dispatches to the named implementation; see ``xla_attention`` for arguments and shapes."""
    try:
        fn = IMPLEMENTATIONS[implementation]
    except KeyError:
        raise ValueError(
            f"attention_implementation={implementation!r} is not available; expected one of {sorted(IMPLEMENTATIONS)}"
        ) from None
    return fn(query, key, value, **kwargs)

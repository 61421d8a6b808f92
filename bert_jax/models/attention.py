"""Scaled dot-product attention behind one function and one config switch (``attention_implementation``).

Every implementation takes the same arguments: a padding mask (``attention_mask``, 1 = real token, padding
on the right) and optional packing ``segment_ids`` (1..k per packed example, 0 = padding; tokens attend only
to keys of the same segment). Outputs at real positions agree across implementations; outputs at padded
positions are ignored by every head and loss, and differ between kernels.

| name     | where           | dtypes        | masks                                   | attention dropout |
|----------|-----------------|---------------|-----------------------------------------|-------------------|
| `xla`    | everywhere      | any           | dense boolean mask                      | yes               |
| `cudnn`  | NVIDIA (sm80+)  | bf16, fp16    | kv lengths; packed rows: dense mask     | no                |
| `splash` | TPU (Pallas)    | any           | segment ids (padding = its own segment) | no                |

The fused kernels have no attention-probability dropout through their public APIs, so BertConfig refuses
them while ``attention_probs_dropout_prob > 0``: the user sets it to 0 (hidden dropout stays) rather than
getting another model than the config says.
"""

from __future__ import annotations

import math
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec

from bert_jax.models.dropout import dropout


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
    # Heads-first [batch, heads, seq, head_dim] operands, transposed explicitly: given the [b, s, h, d]
    # einsums, XLA:CPU lays the second product out as [b, h, d, q] with the softmax fused into it and runs it
    # at 26-33 GFLOP/s, against ~200 for the large products (MiniLM attention forward 50 → 31 ms at 32 × 128;
    # docs/performance.md). Its effect on GPU and TPU steps is not measured yet.
    query, key, value = (jnp.transpose(x, (0, 2, 1, 3)) for x in (query, key, value))
    logits = jnp.einsum("bhqd,bhkd->bhqk", query, key, preferred_element_type=jnp.float32)
    logits = logits * (head_dim**-0.5)
    mask = attention_bias_mask(attention_mask, segment_ids)
    if mask is not None:
        # Same large negative bias as HF BERT's extended mask; a fully masked row becomes uniform, not NaN.
        logits = jnp.where(mask, logits, jnp.finfo(jnp.float32).min)
    probs = jax.nn.softmax(logits, axis=-1)
    if not deterministic and dropout_rate > 0.0:
        probs = dropout(probs, dropout_rate, dropout_rng)
    context = jnp.einsum("bhqk,bhkd->bhqd", probs.astype(value.dtype), value)
    return jnp.transpose(context, (0, 2, 1, 3))


def packing_ids(attention_mask, segment_ids, shape) -> jax.Array:
    """[batch, seq] int32: a real token's packing segment (1 when unpacked), 0 for padding. Attending
    within equal ids keeps real tokens off padding and other examples, and gives padding itself a
    non-empty row (fused softmaxes have no defined output for a fully masked row)."""
    real = jnp.ones(shape, bool) if attention_mask is None else attention_mask.astype(bool)
    packs = jnp.ones(shape, jnp.int32) if segment_ids is None else segment_ids.astype(jnp.int32)
    return jnp.where(real, packs, 0)


def _refuse_dropout(name: str, dropout_rate: float, deterministic: bool) -> None:
    if not deterministic and dropout_rate > 0.0:
        raise ValueError(f"attention_implementation={name!r} has no attention dropout; "
                         "set attention_probs_dropout_prob=0.0 or use 'xla'")


def cudnn_attention(query, key, value, *, attention_mask=None, segment_ids=None, dropout_rate=0.0,
                    dropout_rng=None, deterministic=True) -> jax.Array:
    """cuDNN fused attention through ``jax.nn.dot_product_attention`` (bf16/fp16, NVIDIA GPUs).

    Unpacked rows pass their key lengths (padding is on the right), so no [batch, 1, seq, seq] mask is
    built; packed rows need the block-diagonal mask, which the cuDNN path applies as a bias.
    Shapes as ``xla_attention``.
    """
    del dropout_rng
    _refuse_dropout("cudnn", dropout_rate, deterministic)
    if segment_ids is not None:
        # Same-id mask over packing ids where padding is its own id: no query row is ever fully masked
        # (a fully masked row is uniform in `xla` but has no defined value in a fused softmax).
        ids = packing_ids(attention_mask, segment_ids, query.shape[:2])
        mask = ids[:, None, :, None] == ids[:, None, None, :]
        return jax.nn.dot_product_attention(query, key, value, mask=mask, implementation="cudnn")
    lengths = None
    if attention_mask is not None:
        lengths = jnp.sum(attention_mask.astype(jnp.int32), axis=-1)
    return jax.nn.dot_product_attention(query, key, value, key_value_seq_lengths=lengths, implementation="cudnn")


def splash_attention(query, key, value, *, attention_mask=None, segment_ids=None, dropout_rate=0.0,
                     dropout_rng=None, deterministic=True, interpret: bool = False) -> jax.Array:
    """TPU splash attention (``jax.experimental.pallas.ops.tpu.splash_attention``), one kernel per example.

    Padding and packing both become splash ``SegmentIds``: a real token's id is its packing segment (1 when
    unpacked), padding gets 0, so no key of another example or of padding is ever seen. ``interpret=True``
    runs the Pallas kernel in interpret mode (CPU tests). seq must be a multiple of the 128 block, or
    shorter than it. Shapes as ``xla_attention``.
    """
    from jax.experimental.pallas.ops.tpu import splash_attention as splash

    del dropout_rng
    _refuse_dropout("splash", dropout_rate, deterministic)
    _, seq, heads, head_dim = query.shape
    block = min(128, seq)
    if seq % block:
        raise ValueError(f"attention_implementation='splash' needs seq ({seq}) to be a multiple of {block}")
    ids = None
    if attention_mask is not None or segment_ids is not None:
        ids = packing_ids(attention_mask, segment_ids, query.shape[:2])
    sizes = splash.BlockSizes(block_q=block, block_kv=block, block_kv_compute=block, block_q_dkv=block,
                              block_kv_dkv=block, block_kv_dkv_compute=block, block_q_dq=block, block_kv_dq=block)

    def local(query, key, value, ids=None):
        """The kernel on one device's shard: [batch/b, seq, heads/h, head_dim]."""
        kernel = splash.make_splash_mha(splash.MultiHeadMask([splash.FullMask((seq, seq))] * query.shape[2]),
                                        head_shards=1, q_seq_shards=1, block_sizes=sizes, interpret=interpret)
        # Splash wants [heads, seq, head_dim] per example and unscaled logits of the query it is given.
        q, k, v = (jnp.swapaxes(t, 1, 2) for t in (query * jnp.asarray(head_dim**-0.5, query.dtype), key, value))
        if ids is None:
            out = jax.vmap(kernel)(q, k, v)
        else:
            out = jax.vmap(lambda q, k, v, i: kernel(q, k, v, segment_ids=splash.SegmentIds(q=i, kv=i)))(q, k, v, ids)
        return jnp.swapaxes(out, 1, 2).astype(value.dtype)

    args = (query, key, value) if ids is None else (query, key, value, ids)
    mesh = jax.sharding.get_abstract_mesh()
    # XLA cannot partition a Mosaic kernel: each device runs it on its own examples and heads, as the
    # logical rules in force (sharding.py) split them. Shapes the mesh does not divide (the one-example
    # trace that init's eval_shape makes) are only traced, never compiled: they take the kernel as is.
    spec = PartitionSpec(*nn.logical_to_mesh_axes(("act_batch", "act_len", "act_heads", None)))
    if mesh.empty or mesh.size == 1 or not _divides(mesh, spec, query.shape):
        return local(*args)
    specs = (spec,) * 3 + ((PartitionSpec(spec[0], spec[1]),) if ids is not None else ())
    return jax.shard_map(local, mesh=mesh, in_specs=specs, out_specs=spec, check_vma=False)(*args)


def _divides(mesh, spec: PartitionSpec, shape: tuple[int, ...]) -> bool:
    """Whether every dimension of ``shape`` splits evenly over the mesh axes ``spec`` gives it."""
    for size, axes in zip(shape, spec, strict=False):
        axes = (axes,) if isinstance(axes, str) else (axes or ())
        if size % math.prod(mesh.shape[a] for a in axes):
            return False
    return True


IMPLEMENTATIONS: dict[str, Callable[..., jax.Array]] = {
    "xla": xla_attention, "cudnn": cudnn_attention, "splash": splash_attention}
FUSED_WITHOUT_DROPOUT = ("cudnn", "splash")


def dot_product_attention(query, key, value, *, implementation: str = "xla", **kwargs) -> jax.Array:
    """Dispatches to the named implementation; see ``xla_attention`` for arguments and shapes."""
    try:
        fn = IMPLEMENTATIONS[implementation]
    except KeyError:
        raise ValueError(
            f"attention_implementation={implementation!r} is not available; expected one of {sorted(IMPLEMENTATIONS)}"
        ) from None
    return fn(query, key, value, **kwargs)

"""The BERT encoder as Flax Linen modules: embeddings, post-LN Transformer layers, tanh pooler, with the
family variants as config fields: RoBERTa's positions, ALBERT's factorised embeddings and shared layer,
DistilBERT's missing token types and pooler.

Param names mirror HF's BertModel module names one to one (``embeddings/word_embeddings``,
``encoder/layer/attention/self/query``, ...); hf_names.py maps them to each family's names. ALBERT adds
``encoder/embedding_hidden_mapping_in`` and keeps its one shared layer as ``encoder/layer_0``. Every param carries
logical axis names (vocab, embed, heads, kv, mlp, layers, position, type_vocab); sharding.py maps them to
mesh axes. With ``scan_layers`` the layer params are stacked on a leading ``layers`` axis under
``encoder/layer``; without it they are ``encoder/layer_0`` ... ``layer_{L-1}``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from bert_jax.models.attention import dot_product_attention
from bert_jax.models.config import BertConfig
from bert_jax.models.dropout import Dropout

__all__ = ["BertConfig", "BertModel", "BertOutput", "BertEmbeddings", "BertLayer", "BertEncoder"]


def param_init(config: BertConfig, names: tuple, kind: str = "normal"):
    """Initialiser carrying logical axis names: truncated-free normal(initializer_range) as HF, or zeros/ones."""
    init = {
        "normal": nn.initializers.normal(stddev=config.initializer_range),
        "zeros": nn.initializers.zeros_init(),
        "ones": nn.initializers.ones_init(),
    }[kind]
    return nn.with_logical_partitioning(init, names)


class DenseGeneral(nn.Module):
    """y = x·W + b contracting the last ``num_in_axes`` axes of x; W is [in..., out...].

    Flax's DenseGeneral initialises a flattened 2-D kernel and reshapes it, which breaks logical
    partitioning under a mesh (the sharding is applied to the 2-D value); this creates W in its real shape.
    """

    config: BertConfig
    features: tuple[int, ...]
    kernel_names: tuple
    num_in_axes: int = 1

    @nn.compact
    def __call__(self, x):
        kernel, bias = _dense_params(self, x.shape[x.ndim - self.num_in_axes:])
        dtype = self.config.compute_dtype
        y = token_product(x.astype(dtype), kernel.astype(dtype), self.num_in_axes)
        return y + bias.astype(dtype)


def token_product(x: jax.Array, kernel: jax.Array, num_in_axes: int = 1) -> jax.Array:
    """x [lead..., in...] · kernel [in..., out...] → [lead..., out...], with x's leading axes (batch, seq)
    merged into one token axis for the product (a free reshape).

    Why: the kernel's gradient contracts every leading axis of x and of the output gradient. With two of them
    (batch and seq) XLA:CPU lowers that product through transposed copies of the gradients (in BERT-base's
    pretraining step a [3072, 1024] copy per FFN layer; 692 → 447 MB of copies and transposes per step); with
    one token axis it reads them in place. On the 2-core CPU measured this is no faster (the in-place product
    runs on Eigen, about as much slower than YNNPACK's as the copy cost; docs/performance.md, sixteenth pass):
    kept for the memory traffic. The kernel keeps its shape, so its logical axes and sharding are untouched.
    """
    lead = x.shape[:x.ndim - num_in_axes]
    tokens = x.reshape(math.prod(lead), *x.shape[x.ndim - num_in_axes:])
    y = jnp.tensordot(tokens, kernel, axes=num_in_axes)
    return y.reshape(*lead, *y.shape[1:])


class DenseParams(nn.Module):
    """A DenseGeneral's kernel and bias (same names, shapes and init) without the product, for callers that
    run several dense layers as one matmul. Called with the input's contracted shape."""

    config: BertConfig
    features: tuple[int, ...]
    kernel_names: tuple

    @nn.compact
    def __call__(self, in_shape: tuple[int, ...]) -> tuple[jax.Array, jax.Array]:
        return _dense_params(self, in_shape)


def _dense_params(module, in_shape: tuple[int, ...]) -> tuple[jax.Array, jax.Array]:
    """Creates (or reads) ``module``'s kernel [in_shape..., features...] and bias [features...]."""
    cfg, names, features = module.config, module.kernel_names, module.features
    kernel = module.param("kernel", param_init(cfg, names), (*in_shape, *features), cfg.params_dtype)
    bias = module.param("bias", param_init(cfg, names[-len(features):], "zeros"), features, cfg.params_dtype)
    return kernel, bias


def dense(config: BertConfig, features, kernel_names: tuple, name: str, num_in_axes: int = 1) -> DenseGeneral:
    """A dense layer whose kernel [in..., out...] and bias [out...] carry logical axis names."""
    features = (features,) if isinstance(features, int) else tuple(features)
    return DenseGeneral(config, features, kernel_names, num_in_axes, name=name)


def layer_norm(config: BertConfig, name: str = "LayerNorm") -> nn.LayerNorm:
    # Statistics are computed in float32 by flax whatever `dtype` is.
    return nn.LayerNorm(
        epsilon=config.layer_norm_eps,
        dtype=config.compute_dtype,
        param_dtype=config.params_dtype,
        scale_init=param_init(config, ("embed",), "ones"),
        bias_init=param_init(config, ("embed",), "zeros"),
        name=name,
    )


def constrain(x: jax.Array, names: tuple) -> jax.Array:
    return nn.with_logical_constraint(x, names)


class BertOutput(NamedTuple):
    sequence_output: jax.Array  # [batch, seq, hidden]
    pooled_output: jax.Array | None  # [batch, hidden] = tanh(dense([CLS])); [batch, k, hidden] with cls_positions
    word_embeddings: jax.Array  # [vocab, embedding width], for the tied MLM decoder
    first_token: jax.Array  # [batch, hidden] the [CLS] state before the pooler; [batch, k, hidden] with cls_positions


def one_hot_lookup(table: jax.Array, ids: jax.Array, dtype) -> jax.Array:
    """table [rows, hidden], ids [...] → [..., hidden] as one_hot(ids) · table.

    Its gradient is a matmul, one_hot^T · dy, accumulated in fp32: a gather's gradient is a scatter-add, and
    XLA:GPU turns a scatter-add into a few contended rows (token types: 2 rows hit by every token; positions:
    each row by every sequence) into a compare-and-swap loop, 85 ms of a 106 ms BERT-base step on an H200.
    The product picks one row exactly: HIGHEST precision keeps an fp32 table from being rounded to TF32
    (GPU) or bf16 (TPU) on its way through the matmul unit.
    """
    one_hot = jax.nn.one_hot(ids, table.shape[0], dtype=dtype)
    return jnp.einsum("...r,rh->...h", one_hot, table.astype(dtype), precision=jax.lax.Precision.HIGHEST)


class _Table(nn.Module):
    """An embedding table [rows, hidden], stored as nn.Embed stores it (param ``embedding``), so checkpoints
    and convert.py's names are those of HF's nn.Embedding."""

    config: BertConfig
    rows: int
    names: tuple

    @nn.compact
    def __call__(self) -> jax.Array:
        cfg = self.config
        return self.param("embedding", param_init(cfg, self.names), (self.rows, cfg.embedding_width),
                          cfg.params_dtype)


class BertEmbeddings(nn.Module):
    """words + positions + token types → LayerNorm → dropout, each ``config.embedding_width`` wide.

    Only the word table is gathered (its rows are many and rarely hit twice in one batch, so its gradient
    scatter is cheap); ``config.one_hot_word_embeddings`` makes it a one-hot matmul too (what TPUs prefer for
    large batches). Token types are a one-hot matmul; positions are a slice of the table broadcast over the
    batch when they are the default 0..seq-1 (its gradient is a sum over the batch), else a one-hot matmul.
    RoBERTa's positions count the non-pad tokens from pad_token_id + 1, as transformers derives them from
    input_ids (pads sit at row pad_token_id); given position_ids (packing) are shifted by that offset.
    """

    config: BertConfig

    @nn.compact
    def __call__(self, input_ids, token_type_ids, position_ids, deterministic: bool):
        """input_ids, token_type_ids [batch, seq]; position_ids [batch, seq] or None for 0..seq-1
        → ([batch, seq, hidden], word table [vocab, hidden])."""
        cfg = self.config
        dtype = cfg.compute_dtype
        words = _Table(cfg, cfg.vocab_size, ("vocab", "embed"), name="word_embeddings")()
        positions = _Table(cfg, cfg.max_position_embeddings, ("position", "embed"), name="position_embeddings")()
        if cfg.one_hot_word_embeddings:
            x = one_hot_lookup(words, input_ids, dtype)
        else:
            x = jnp.take(words.astype(dtype), input_ids, axis=0)
        seq, offset = input_ids.shape[-1], cfg.position_offset
        if seq + offset > cfg.max_position_embeddings:
            raise ValueError(f"sequence length {seq} exceeds max_position_embeddings={cfg.max_position_embeddings}"
                             + (f" less the position offset {offset}" if offset else ""))
        if position_ids is None and offset:
            real = (input_ids != cfg.pad_token_id).astype(jnp.int32)
            position_ids = jnp.cumsum(real, axis=-1) * real + cfg.pad_token_id  # pads → row pad_token_id
            x = x + one_hot_lookup(positions, position_ids, dtype)
        elif position_ids is None:
            x = x + positions[:seq].astype(dtype)
        else:
            x = x + one_hot_lookup(positions, position_ids + offset, dtype)
        if cfg.type_vocab_size:
            types = _Table(cfg, cfg.type_vocab_size, ("type_vocab", "embed"), name="token_type_embeddings")()
            x = x + one_hot_lookup(types, token_type_ids, dtype)
        x = layer_norm(cfg)(x)
        x = Dropout(cfg.hidden_dropout_prob)(x, deterministic=deterministic)
        return constrain(x, ("act_batch", "act_len", "act_embed")), words


class BertSelfAttention(nn.Module):
    config: BertConfig
    deterministic: bool = True

    @nn.compact
    def __call__(self, x, attention_mask, segment_ids):
        cfg = self.config
        heads = (cfg.num_attention_heads, cfg.head_dim)
        weights = [DenseParams(cfg, heads, ("embed", "heads", "kv"), name=n)(x.shape[-1:])
                   for n in ("query", "key", "value")]
        # One [tokens, embed] @ [embed, 3·heads·head_dim] product instead of three: the params stay
        # query/key/value, stacked per step (a copy of the kernels, small beside the product). The stack
        # axis is new and unsharded, so a mesh that splits heads keeps each device's heads local. On CPU the
        # narrow products ran at ~60% of the wide ones' rate; one product made a MiniLM step 11% faster
        # (docs/performance.md, fifth pass).
        dtype = cfg.compute_dtype
        kernel = jnp.stack([w.astype(dtype) for w, _ in weights], axis=1)  # [embed, 3, heads, head_dim]
        bias = jnp.stack([b.astype(dtype) for _, b in weights])  # [3, heads, head_dim]
        qkv = token_product(x.astype(dtype), kernel) + bias  # [batch, seq, 3, heads, head_dim]
        q, k, v = (constrain(qkv[:, :, i], ("act_batch", "act_len", "act_heads", None)) for i in range(3))
        dropout_rng = None
        if not self.deterministic and cfg.attention_probs_dropout_prob > 0:
            dropout_rng = self.make_rng("dropout")
        return dot_product_attention(
            q, k, v,
            implementation=cfg.attention_implementation,
            attention_mask=attention_mask,
            segment_ids=segment_ids,
            dropout_rate=cfg.attention_probs_dropout_prob,
            dropout_rng=dropout_rng,
            deterministic=self.deterministic,
        )  # [batch, seq, heads, head_dim]


class BertAttention(nn.Module):
    config: BertConfig
    deterministic: bool = True

    @nn.compact
    def __call__(self, x, attention_mask, segment_ids):
        cfg = self.config
        context = BertSelfAttention(cfg, self.deterministic, name="self")(x, attention_mask, segment_ids)
        return _AddNorm(cfg, self.deterministic, ("heads", "kv", "embed"), num_in_axes=2, name="output")(context, x)


class _AddNorm(nn.Module):
    """HF's BertSelfOutput / BertOutput: dense → dropout → LayerNorm(· + residual)."""

    config: BertConfig
    deterministic: bool
    kernel_names: tuple
    num_in_axes: int = 1

    @nn.compact
    def __call__(self, x, residual):
        cfg = self.config
        x = dense(cfg, cfg.hidden_size, self.kernel_names, "dense", self.num_in_axes)(x)
        x = Dropout(cfg.hidden_dropout_prob)(x, deterministic=self.deterministic)
        return layer_norm(cfg)(x + residual)


class BertLayer(nn.Module):
    """One post-LN Transformer layer. Returns (hidden, None) so it can be the body of nn.scan."""

    config: BertConfig
    deterministic: bool = True

    @nn.compact
    def __call__(self, x, attention_mask, segment_ids):
        cfg = self.config
        x = BertAttention(cfg, self.deterministic, name="attention")(x, attention_mask, segment_ids)
        h = _Intermediate(cfg, name="intermediate")(x)
        x = _AddNorm(cfg, self.deterministic, ("mlp", "embed"), name="output")(h, x)
        return constrain(x, ("act_batch", "act_len", "act_embed")), None


class _Intermediate(nn.Module):
    config: BertConfig

    @nn.compact
    def __call__(self, x):
        cfg = self.config
        h = dense(cfg, cfg.intermediate_size, ("embed", "mlp"), "dense")(x)
        return constrain(cfg.activation()(h), ("act_batch", "act_len", "act_mlp"))


_REMAT_POLICIES = {
    "full": jax.checkpoint_policies.nothing_saveable,
    "dots": jax.checkpoint_policies.checkpoint_dots,
    "dots_no_batch": jax.checkpoint_policies.checkpoint_dots_with_no_batch_dims,
}


class BertEncoder(nn.Module):
    """The layers; ALBERT's first projects the embeddings to hidden_size and applies one layer L times."""

    config: BertConfig

    @nn.compact
    def __call__(self, x, attention_mask, segment_ids, deterministic: bool):
        cfg = self.config
        if cfg.embedding_width != cfg.hidden_size:
            # The square-kernel rule of the pooler: one tensor cannot use `embed` twice.
            x = dense(cfg, cfg.hidden_size, (None, "embed"), "embedding_hidden_mapping_in")(x)
            x = constrain(x, ("act_batch", "act_len", "act_embed"))
        layer_cls = BertLayer
        if cfg.remat_policy != "none":
            layer_cls = nn.remat(layer_cls, policy=_REMAT_POLICIES[cfg.remat_policy], prevent_cse=not cfg.scan_layers)
        if cfg.scan_layers:
            stack = nn.scan(
                layer_cls,
                variable_axes={"params": 0},
                split_rngs={"params": True, "dropout": True},
                in_axes=(nn.broadcast, nn.broadcast),
                length=cfg.num_hidden_layers,
                metadata_params={nn.PARTITION_NAME: "layers"},
            )
            x, _ = stack(cfg, deterministic, name="layer")(x, attention_mask, segment_ids)
        elif cfg.share_layers:
            shared = layer_cls(cfg, deterministic, name="layer_0")
            for _ in range(cfg.num_hidden_layers):
                x, _ = shared(x, attention_mask, segment_ids)
        else:
            for i in range(cfg.num_hidden_layers):
                x, _ = layer_cls(cfg, deterministic, name=f"layer_{i}")(x, attention_mask, segment_ids)
        return x


class BertModel(nn.Module):
    """HF ``BertModel`` (RobertaModel, AlbertModel, DistilBertModel by ``config``): embeddings → encoder → pooler.

    Call with input_ids [batch, seq] and optionally token_type_ids (0/1 for sentence A/B), attention_mask
    (1 = real token), position_ids (restarted per packed example), segment_ids (packing: attend only
    within the same id) and cls_positions [batch, k] (packing: pool the [CLS] of each packed example).
    Returns ``BertOutput``.
    """

    config: BertConfig
    add_pooling_layer: bool = True

    @nn.compact
    def __call__(self, input_ids, token_type_ids=None, attention_mask=None, position_ids=None,
                 segment_ids=None, cls_positions=None, deterministic: bool = True) -> BertOutput:
        cfg = self.config
        if token_type_ids is None:
            token_type_ids = jnp.zeros_like(input_ids)
        x, table = BertEmbeddings(cfg, name="embeddings")(input_ids, token_type_ids, position_ids, deterministic)
        x = BertEncoder(cfg, name="encoder")(x, attention_mask, segment_ids, deterministic)
        cls = x[:, 0] if cls_positions is None else jnp.take_along_axis(
            x, cls_positions[..., None].astype(jnp.int32), axis=1)
        pooled = None
        if self.add_pooling_layer and cfg.use_pooler:
            pooled = _Pooler(cfg, name="pooler")(cls)
        return BertOutput(x, pooled, table, cls)


class _Pooler(nn.Module):
    config: BertConfig

    @nn.compact
    def __call__(self, x):
        # The square kernel shards on its output axis only: one tensor cannot use `embed` twice.
        return jnp.tanh(dense(self.config, self.config.hidden_size, (None, "embed"), "dense")(x))

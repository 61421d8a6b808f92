"""The fused attention implementations against the `xla` reference, with padding and with packing.

The TPU splash kernel runs here in Pallas interpret mode (same kernel code, executed by XLA on CPU).
The cuDNN kernel needs an NVIDIA GPU: those tests skip elsewhere and run on a GPU machine with
`pytest tests/test_attention_kernels.py`. Only real (non-padding) positions are compared: outputs at
padded positions are ignored downstream and differ between kernels by design.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bert_jax.models.attention import cudnn_attention, splash_attention, xla_attention
from bert_jax.models.bert import BertConfig

ON_GPU = jax.default_backend() == "gpu"


def _qkv(batch, seq, heads, head_dim, dtype, seed):
    rng = np.random.default_rng(seed)
    return tuple(jnp.asarray(rng.normal(size=(batch, seq, heads, head_dim)), dtype) for _ in range(3))


def _padding(batch, seq, seed):
    """Right padding with a different real length per row (one row full)."""
    lengths = np.random.default_rng(seed).integers(seq // 4, seq, batch)
    lengths[0] = seq
    return jnp.asarray((np.arange(seq)[None] < lengths[:, None]).astype(np.int32))


def _packing(batch, seq, seed):
    """Rows of 1..4 packed examples (segment ids 1..k) followed by padding (0)."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((batch, seq), np.int32)
    for row in range(batch):
        cuts = np.sort(rng.choice(np.arange(8, seq), rng.integers(1, 5), replace=False))
        start = 0
        for k, end in enumerate(cuts, 1):
            ids[row, start:end] = k
            start = end
    return jnp.asarray(ids > 0, jnp.int32), jnp.asarray(ids)


def _relative_error(out, ref, real):
    """‖out − ref‖ / ‖ref‖ over the real positions, in float64."""
    keep = np.asarray(real, bool).reshape(real.shape + (1,) * (np.ndim(out) - 2))
    diff = np.where(keep, np.asarray(out, np.float64) - np.asarray(ref, np.float64), 0.0)
    return np.linalg.norm(diff) / np.linalg.norm(np.where(keep, np.asarray(ref, np.float64), 0.0))


def _compare(kernel, dtype, tolerance, layout, seed=0, batch=3, seq=128, heads=2, head_dim=64):
    q, k, v = _qkv(batch, seq, heads, head_dim, dtype, seed)
    if layout == "padding":
        mask, segments = _padding(batch, seq, seed), None
    else:
        mask, segments = _packing(batch, seq, seed)
    # The reference runs in float32 on the same (rounded) inputs.
    ref = xla_attention(*(t.astype(jnp.float32) for t in (q, k, v)), attention_mask=mask, segment_ids=segments)
    out = jax.jit(kernel)(q, k, v, attention_mask=mask, segment_ids=segments)
    assert out.shape == q.shape and out.dtype == dtype
    assert np.isfinite(np.asarray(out, np.float32)).all()
    assert _relative_error(out, ref, mask) < tolerance

    # Gradients of a loss over real positions agree too (the training path).
    weights = jnp.asarray(np.random.default_rng(seed + 1).normal(size=q.shape), jnp.float32) * mask[:, :, None, None]

    def loss(fn, q, k, v):
        return jnp.sum(fn(q, k, v, attention_mask=mask, segment_ids=segments).astype(jnp.float32) * weights)

    grads = jax.jit(jax.grad(lambda *a: loss(kernel, *a), argnums=(0, 1, 2)))(q, k, v)
    ref_grads = jax.grad(lambda *a: loss(xla_attention, *a), argnums=(0, 1, 2))(
        *(t.astype(jnp.float32) for t in (q, k, v)))
    everywhere = jnp.ones(mask.shape)  # padded keys get zero gradient in both, so compare every position
    for grad, ref_grad in zip(grads, ref_grads, strict=True):
        assert _relative_error(grad, ref_grad, everywhere) < tolerance


@pytest.mark.parametrize("layout", ["padding", "packing"])
def test_splash_interpret_matches_xla_fp32(layout):
    def splash(q, k, v, **kw):
        return splash_attention(q, k, v, interpret=True, **kw)

    # Highest precision: on a GPU XLA would otherwise run fp32 matmuls (kernel and reference) in TF32.
    with jax.default_matmul_precision("highest"):
        _compare(splash, jnp.float32, 1e-5, layout, seq=128, batch=2)


def test_splash_interpret_matches_xla_bf16_packing():
    def splash(q, k, v, **kw):
        return splash_attention(q, k, v, interpret=True, **kw)

    _compare(splash, jnp.bfloat16, 2e-2, "packing", seq=128, batch=2, seed=4)


@pytest.mark.skipif(not ON_GPU, reason="cuDNN fused attention needs an NVIDIA GPU")
@pytest.mark.parametrize("layout", ["padding", "packing"])
@pytest.mark.parametrize("seq", [128, 512])
def test_cudnn_matches_xla_bf16(layout, seq):
    _compare(cudnn_attention, jnp.bfloat16, 2e-2, layout, seq=seq, batch=4, heads=12, seed=seq)


@pytest.mark.skipif(not ON_GPU, reason="cuDNN fused attention needs an NVIDIA GPU")
def test_bert_with_cudnn_matches_xla_end_to_end():
    from bert_jax.convert import init_params
    from bert_jax.models.bert import BertModel

    base = BertConfig.preset("mini", vocab_size=1000, dtype="bfloat16", attention_probs_dropout_prob=0.0)
    params = init_params(BertModel(base), jax.random.PRNGKey(0))
    ids = jnp.asarray(np.random.default_rng(0).integers(5, 1000, (4, 128)), jnp.int32)
    mask = _padding(4, 128, 1)
    outs = {name: BertModel(base.replace(attention_implementation=name)).apply({"params": params}, ids,
                                                                               attention_mask=mask)
            for name in ("xla", "cudnn")}
    assert _relative_error(outs["cudnn"].sequence_output, outs["xla"].sequence_output, mask) < 2e-2


def test_config_refuses_fused_kernels_with_attention_dropout_and_cudnn_in_fp32():
    with pytest.raises(ValueError, match="no attention dropout.*attention_probs_dropout_prob=0.1"):
        BertConfig.preset("tiny", attention_implementation="splash")
    with pytest.raises(ValueError, match="'cudnn' needs dtype bfloat16 or float16"):
        BertConfig.preset("tiny", attention_implementation="cudnn", attention_probs_dropout_prob=0.0)
    with pytest.raises(ValueError, match="expected one of \\['cudnn', 'splash', 'xla'\\]"):
        BertConfig.preset("tiny", attention_implementation="flash")
    # With the dropout set to 0 the kernels are accepted; hidden dropout is unaffected.
    cfg = BertConfig.preset("tiny", attention_implementation="splash", attention_probs_dropout_prob=0.0)
    assert cfg.hidden_dropout_prob == 0.1

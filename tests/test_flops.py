"""Analytic FLOPs against a hand count and against XLA's own cost analysis of the compiled model."""

import jax
import jax.numpy as jnp
import pytest

from bert_jax.convert import init_params
from bert_jax.flops import encoder_flops_per_token, mfu, peak_flops, pretraining_flops_per_sequence
from bert_jax.models.bert import BertConfig, BertModel
from bert_jax.models.heads import BertWithHead, PretrainingHeads


def test_hand_count():
    cfg = BertConfig(vocab_size=10, hidden_size=4, num_hidden_layers=1, num_attention_heads=1, intermediate_size=8)
    # q,k,v,out: 4 · 2·4·4 = 128; FFN: 2 · 2·4·8 = 128; attention at seq 3: 2 · 2·3·4 = 48.
    assert encoder_flops_per_token(cfg, 3) == 304
    # 3 tokens · 304 + pooler 32 + NSP 16 + 2 predictions · (32 + 80).
    assert pretraining_flops_per_sequence(cfg, 3, 2, training=False) == 3 * 304 + 32 + 16 + 2 * 112
    assert pretraining_flops_per_sequence(cfg, 3, 2) == 3 * (3 * 304 + 32 + 16 + 2 * 112)


def _xla_flops(fn, *args):
    cost = jax.jit(fn).lower(*args).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return cost["flops"]


@pytest.mark.parametrize("with_heads", [False, True])
def test_matches_xla_cost_analysis(with_heads):
    """With matmul-heavy shapes, XLA's count (matmuls + small elementwise work) is within 3% above ours."""
    cfg = BertConfig(vocab_size=2048, hidden_size=256, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=1024, max_position_embeddings=128,
                     scan_layers=False,  # XLA counts a while-loop body once, not once per layer
                     hidden_act="relu")  # exact GELU expands erf into ~30 elementwise ops per element
    batch, seq, predictions = 2, 128, 20
    ids = jnp.ones((batch, seq), jnp.int32)
    if with_heads:
        model = BertWithHead(cfg, PretrainingHeads(cfg))
        positions = jnp.zeros((batch, predictions), jnp.int32)
        params = init_params(model, jax.random.PRNGKey(0), masked_positions=positions[:1])
        xla = _xla_flops(lambda p: model.apply({"params": p}, ids, masked_positions=positions), params)
        ours = batch * pretraining_flops_per_sequence(cfg, seq, predictions, training=False)
    else:
        model = BertModel(cfg, add_pooling_layer=False)
        params = init_params(model, jax.random.PRNGKey(0))
        xla = _xla_flops(lambda p: model.apply({"params": p}, ids).sequence_output, params)
        ours = batch * seq * encoder_flops_per_token(cfg, seq)
    assert ours <= xla <= 1.03 * ours, (ours, xla)


def test_peaks_and_mfu():
    assert peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert peak_flops("TPU v5 lite") == 197e12
    assert peak_flops("cpu") is None and mfu(1e12, 1.0, 1, "cpu") is None
    assert mfu(989e12 * 0.5 * 8, 1.0, 8, "NVIDIA H100 80GB HBM3") == pytest.approx(0.5)

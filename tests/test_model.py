"""Model structure and semantics that need no reference implementation: every check compares two
computations that must agree (scan vs loop, packed vs separate, remat vs none) or a hand-derived value."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bert_jax.convert import init_params, stack_layers, unstack_layers
from bert_jax.models import heads as H
from bert_jax.models.attention import dot_product_attention
from bert_jax.models.bert import BertConfig, BertModel

TINY = BertConfig.preset("tiny", vocab_size=100, max_position_embeddings=32)


def _inputs(batch=2, seq=8, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, TINY.vocab_size, (batch, seq)).astype(np.int32)
    mask = np.ones((batch, seq), np.int32)
    mask[-1, seq // 2:] = 0
    types = np.zeros_like(ids)
    types[:, seq // 3:] = 1
    return jnp.asarray(ids), jnp.asarray(types), jnp.asarray(mask)


@pytest.mark.parametrize(
    "name,layers,hidden,heads",
    [("tiny", 2, 128, 2), ("mini", 4, 256, 4), ("small", 4, 512, 8), ("medium", 8, 512, 8),
     ("base", 12, 768, 12), ("large", 24, 1024, 16)],
)
def test_presets_follow_googles_grid(name, layers, hidden, heads):
    cfg = BertConfig.preset(name)
    assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads) == (layers, hidden, heads)
    assert cfg.intermediate_size == 4 * hidden


def test_base_has_110m_params_and_large_340m():
    # Paper: BERT-base 110M, BERT-large 340M (encoder + pooler).
    def count(cfg):
        shapes = jax.eval_shape(lambda: BertModel(cfg).init(jax.random.PRNGKey(0), jnp.zeros((1, 8), jnp.int32)))
        return sum(np.prod(x.shape) for x in jax.tree_util.tree_leaves(nn.unbox(shapes)))

    assert 109e6 < count(BertConfig.preset("base")) < 111e6
    assert 334e6 < count(BertConfig.preset("large")) < 336e6


def test_config_errors_name_the_key():
    with pytest.raises(ValueError, match="unknown config key 'hiden_size'.*'hidden_size'"):
        BertConfig.from_dict({"hiden_size": 64})
    with pytest.raises(ValueError, match="not divisible"):
        BertConfig(hidden_size=100, num_attention_heads=3)
    with pytest.raises(ValueError, match="hidden_act"):
        BertConfig(hidden_act="mish")
    with pytest.raises(ValueError, match="unknown model preset 'huge'"):
        BertConfig.preset("huge")
    # HF bookkeeping keys are not errors.
    assert BertConfig.from_dict({"architectures": ["BertModel"], "transformers_version": "4.8.2"}) == BertConfig()


@pytest.mark.parametrize("scan", [False, True])
def test_every_param_has_logical_axis_names(scan):
    cfg = TINY.replace(scan_layers=scan)
    model = H.BertWithHead(cfg, H.PretrainingHeads(cfg))
    ids, types, mask = _inputs()
    # Shapes only (the names are on the boxes): no init computed.
    boxed = jax.eval_shape(model.init, jax.random.PRNGKey(0), ids, types, mask)["params"]
    leaves = jax.tree_util.tree_leaves(boxed, is_leaf=lambda x: isinstance(x, nn.Partitioned))
    assert leaves and all(isinstance(x, nn.Partitioned) for x in leaves)
    allowed = {"vocab", "embed", "heads", "kv", "mlp", "layers", "position", "type_vocab", None}
    for leaf in leaves:
        assert set(leaf.names) <= allowed and len(leaf.names) == leaf.value.ndim
    encoder = boxed["bert"]["encoder"]
    if scan:
        assert encoder["layer"]["attention"]["self"]["query"]["kernel"].names == ("layers", "embed", "heads", "kv")
    else:
        assert sorted(encoder) == [f"layer_{i}" for i in range(cfg.num_hidden_layers)]
        assert encoder["layer_1"]["attention"]["self"]["query"]["kernel"].names == ("embed", "heads", "kv")


@pytest.mark.parametrize("family", ["roberta", "albert", "distilbert"])
def test_every_family_param_has_logical_axis_names(family):
    """The variants' extra params (ALBERT's projection, its E-wide tables) carry names as well; ALBERT keeps
    one shared layer, DistilBERT no token types and no pooler."""
    preset = {"roberta": "roberta-base", "albert": "albert-base-v2", "distilbert": "distilbert-base"}[family]
    cfg = BertConfig.preset(preset, vocab_size=100, hidden_size=64, num_attention_heads=2, intermediate_size=96,
                            num_hidden_layers=3, max_position_embeddings=40)
    model = H.BertWithHead(cfg, H.PretrainingHeads(cfg))
    ids, _, mask = _inputs()
    boxed = jax.eval_shape(lambda r: model.init(r, ids, attention_mask=mask), jax.random.PRNGKey(0))["params"]
    leaves = jax.tree_util.tree_leaves(boxed, is_leaf=lambda x: isinstance(x, nn.Partitioned))
    assert leaves and all(isinstance(x, nn.Partitioned) for x in leaves)
    for leaf in leaves:
        assert len(leaf.names) == leaf.value.ndim and len(set(n for n in leaf.names if n)) == len(
            [n for n in leaf.names if n])
    encoder, embeddings = boxed["bert"]["encoder"], boxed["bert"]["embeddings"]
    expected_layers = {"albert": ["embedding_hidden_mapping_in", "layer_0"]}.get(family,
                                                                                  ["layer_0", "layer_1", "layer_2"])
    assert sorted(encoder) == expected_layers
    assert ("token_type_embeddings" in embeddings) == (family != "distilbert")
    assert ("pooler" in boxed["bert"]) == (family != "distilbert")


def test_scan_and_unrolled_layers_agree_and_remat_changes_nothing():
    ids, types, mask = _inputs()
    flat_cfg = TINY.replace(scan_layers=False)
    flat = init_params(BertModel(flat_cfg), jax.random.PRNGKey(1))
    stacked = stack_layers(flat, TINY.num_hidden_layers)
    out_flat = jax.jit(BertModel(flat_cfg).apply)({"params": flat}, ids, types, mask)
    for policy in ("none", "full", "dots"):
        scan_cfg = TINY.replace(scan_layers=True, remat_policy=policy)
        out_scan = jax.jit(BertModel(scan_cfg).apply)({"params": stacked}, ids, types, mask)
        np.testing.assert_allclose(out_scan.sequence_output, out_flat.sequence_output, atol=1e-6)
    back = unstack_layers(stacked)
    assert jax.tree_util.tree_all(jax.tree_util.tree_map(np.array_equal, back, flat))


def test_packed_row_equals_examples_run_separately():
    """Two examples packed into one row (segment ids + restarted positions) give the same hidden
    states as each example alone: no attention crosses the packing boundary."""
    cfg = TINY.replace(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = BertModel(cfg)
    params = init_params(model, jax.random.PRNGKey(2))
    rng = np.random.default_rng(3)
    a, b = rng.integers(5, 100, 5), rng.integers(5, 100, 7)
    seq = 16
    packed = np.zeros((1, seq), np.int32)
    packed[0, :5], packed[0, 5:12] = a, b
    segments = np.zeros((1, seq), np.int32)
    segments[0, :5], segments[0, 5:12] = 1, 2
    positions = np.zeros((1, seq), np.int32)
    positions[0, :5], positions[0, 5:12] = np.arange(5), np.arange(7)
    apply = jax.jit(model.apply)  # op by op, each forward compiles a hundred one-op programs
    out = apply({"params": params}, jnp.asarray(packed), position_ids=jnp.asarray(positions),
                attention_mask=jnp.asarray(segments > 0), segment_ids=jnp.asarray(segments),
                cls_positions=jnp.array([[0, 5]]))
    alone_a = apply({"params": params}, jnp.asarray(a[None]))
    alone_b = apply({"params": params}, jnp.asarray(b[None]))
    np.testing.assert_allclose(out.sequence_output[0, :5], alone_a.sequence_output[0], atol=1e-5)
    np.testing.assert_allclose(out.sequence_output[0, 5:12], alone_b.sequence_output[0], atol=1e-5)
    # Each packed example's pooled [CLS] (at its own position) equals its pooled output alone.
    np.testing.assert_allclose(out.pooled_output[0], np.concatenate([alone_a.pooled_output, alone_b.pooled_output]),
                               atol=1e-5)


def test_padding_does_not_change_real_tokens():
    model = BertModel(TINY)
    params = init_params(model, jax.random.PRNGKey(4))
    ids, types, _ = _inputs(batch=1, seq=6)
    padded = jnp.concatenate([ids, jnp.zeros((1, 4), jnp.int32)], axis=1)
    mask = jnp.concatenate([jnp.ones((1, 6)), jnp.zeros((1, 4))], axis=1)
    types_p = jnp.concatenate([types, jnp.zeros((1, 4), jnp.int32)], axis=1)
    apply = jax.jit(model.apply)
    full = apply({"params": params}, padded, types_p, mask)
    short = apply({"params": params}, ids, types)
    np.testing.assert_allclose(full.sequence_output[:, :6], short.sequence_output, atol=1e-5)
    np.testing.assert_allclose(full.pooled_output, short.pooled_output, atol=1e-5)


def test_attention_matches_hand_computed_softmax():
    rng = np.random.default_rng(5)
    q, k, v = (rng.normal(size=(1, 3, 1, 4)).astype(np.float32) for _ in range(3))
    mask = np.array([[1, 1, 0]])
    out = dot_product_attention(jnp.asarray(q), jnp.asarray(k), jnp.asarray(v), attention_mask=jnp.asarray(mask))
    logits = q[0, :, 0] @ k[0, :2, 0].T / 2.0  # sqrt(head_dim=4)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    np.testing.assert_allclose(out[0, :, 0], probs @ v[0, :2, 0], atol=1e-6)
    with pytest.raises(ValueError, match="attention_implementation='flash'"):
        dot_product_attention(q, k, v, implementation="flash")


def test_dropout_is_active_only_when_not_deterministic():
    model = BertModel(TINY)
    params = init_params(model, jax.random.PRNGKey(6))
    ids, types, mask = _inputs()
    apply = jax.jit(model.apply, static_argnames="deterministic")
    a = apply({"params": params}, ids, types, mask).sequence_output
    b = apply({"params": params}, ids, types, mask).sequence_output
    c = apply({"params": params}, ids, types, mask, deterministic=False,
              rngs={"dropout": jax.random.PRNGKey(0)}).sequence_output
    np.testing.assert_array_equal(a, b)
    assert np.abs(np.asarray(a) - np.asarray(c)).max() > 1e-3


def test_bf16_compute_keeps_fp32_params_and_stays_close():
    ids, types, mask = _inputs()
    params = init_params(BertModel(TINY), jax.random.PRNGKey(7))
    fp32 = jax.jit(BertModel(TINY).apply)({"params": params}, ids, types, mask).sequence_output
    bf16 = jax.jit(BertModel(TINY.replace(dtype="bfloat16")).apply)({"params": params}, ids, types,
                                                                     mask).sequence_output
    assert bf16.dtype == jnp.bfloat16
    assert all(x.dtype == jnp.float32 for x in jax.tree_util.tree_leaves(params))
    assert np.abs(np.asarray(bf16, np.float32) - np.asarray(fp32)).max() < 0.1


@pytest.mark.slow
def test_heads_shapes_and_gathered_mlm_equals_full_mlm():
    ids, types, mask = _inputs(batch=2, seq=8)
    model = H.BertWithHead(TINY, H.PretrainingHeads(TINY))
    params = init_params(model, jax.random.PRNGKey(8))
    apply = jax.jit(model.apply)
    full = apply({"params": params}, ids, types, mask)
    positions = jnp.array([[1, 3, 0], [2, 2, 7]])
    gathered = apply({"params": params}, ids, types, mask, masked_positions=positions)
    assert full["mlm_logits"].shape == (2, 8, TINY.vocab_size) and full["nsp_logits"].shape == (2, 2)
    expected = np.take_along_axis(np.asarray(full["mlm_logits"]), np.asarray(positions)[..., None], axis=1)
    np.testing.assert_allclose(gathered["mlm_logits"], expected, atol=1e-5)

    cases = [
        (H.SequenceClassificationHead(TINY, num_labels=3), ids, {"logits": (2, 3)}),
        (H.SpanHead(TINY), ids, {"start_logits": (2, 8), "end_logits": (2, 8)}),
        (H.TokenTaggingHead(TINY, num_labels=9), ids, {"logits": (2, 8, 9)}),
        (H.MultipleChoiceHead(TINY, num_choices=4), jnp.tile(ids[:, None], (1, 4, 1)), {"logits": (2, 4)}),
    ]
    for head, x, want in cases:
        m = H.BertWithHead(TINY, head)
        p = jax.eval_shape(lambda r, m=m, x=x: nn.unbox(m.init(r, x))["params"], jax.random.PRNGKey(9))
        out = jax.eval_shape(m.apply, {"params": p}, x)  # shapes only: traced, not compiled
        assert {k: v.shape for k, v in out.items()} == want


def test_multiple_choice_scores_each_choice_independently():
    """Choice scores equal the classifier applied to each (context, choice) row on its own."""
    head = H.MultipleChoiceHead(TINY, num_choices=3)
    model = H.BertWithHead(TINY, head)
    x = jnp.asarray(np.random.default_rng(10).integers(5, 100, (2, 3, 6)), jnp.int32)
    params = nn.unbox(jax.jit(model.init)(jax.random.PRNGKey(11), x))["params"]
    scores = jax.jit(model.apply)({"params": params}, x)["logits"]
    pooled = jax.jit(BertModel(TINY).apply)({"params": params["bert"]}, x.reshape(6, 6)).pooled_output
    k = params["head"]["classifier"]
    np.testing.assert_allclose(scores, (pooled @ k["kernel"] + k["bias"]).reshape(2, 3), atol=1e-5)

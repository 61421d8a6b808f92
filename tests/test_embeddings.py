"""Embedding lookups without a contended scatter-add: the one-hot and slice paths of models/bert.py against
a plain gather (the textbook lookup and what HF's nn.Embedding computes), and the compiled train step's HLO
checked for scatters into small tables."""

import functools
import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bert_jax.models.bert import BertConfig, BertEmbeddings
from bert_jax.models.heads import BertWithHead, PretrainingHeads
from bert_jax.optim import create_optimizer
from bert_jax.step import create_state, train_step
from bert_jax.tasks.pretrain import PretrainingStep

CONFIG = BertConfig.preset("tiny", vocab_size=700, max_position_embeddings=64, hidden_dropout_prob=0.0)


def _gather_reference(params, ids, types, positions, config):
    """Embedding sum by jnp.take from each table, then LayerNorm: the lookup BertEmbeddings replaced."""
    tables = {name: params[name]["embedding"] for name in
              ("word_embeddings", "position_embeddings", "token_type_embeddings")}
    x = (jnp.take(tables["word_embeddings"], ids, axis=0) + jnp.take(tables["position_embeddings"], positions, axis=0)
         + jnp.take(tables["token_type_embeddings"], types, axis=0))
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    ln = params["LayerNorm"]
    return (x - mean) / jnp.sqrt(var + config.layer_norm_eps) * ln["scale"] + ln["bias"]


def _inputs(batch=4, seq=24, seed=0):
    rng = np.random.default_rng(seed)
    ids = jnp.asarray(rng.integers(0, CONFIG.vocab_size, (batch, seq)), jnp.int32)
    types = jnp.asarray(rng.integers(0, 2, (batch, seq)), jnp.int32)
    # Restarted positions as in a packed row: two examples of lengths 10 and seq - 10.
    packed = jnp.asarray(np.broadcast_to(np.r_[np.arange(10), np.arange(seq - 10)], (batch, seq)), jnp.int32)
    return ids, types, packed


@pytest.mark.parametrize("one_hot_words", [False, True])
@pytest.mark.parametrize("explicit_positions", [False, True])
def test_lookups_equal_the_gather_forward_and_gradient(one_hot_words, explicit_positions):
    config = CONFIG.replace(one_hot_word_embeddings=one_hot_words)
    ids, types, packed = _inputs()
    positions = packed if explicit_positions else jnp.broadcast_to(jnp.arange(ids.shape[1]), ids.shape)
    module = BertEmbeddings(config)
    params = nn.unbox(module.init(jax.random.PRNGKey(0), ids, types, None, True))["params"]
    # A random cotangent so that every row's gradient is a distinct weighted sum.
    cotangent = jax.random.normal(jax.random.PRNGKey(1), (*ids.shape, config.hidden_size))

    def ours(p):
        x, _ = module.apply({"params": p}, ids, types, packed if explicit_positions else None, True)
        return x

    reference = functools.partial(_gather_reference, ids=ids, types=types, positions=positions, config=config)
    out, ours_vjp = jax.vjp(ours, params)
    expected, reference_vjp = jax.vjp(reference, params)
    np.testing.assert_allclose(out, expected, atol=2e-6, rtol=0)
    (grads,), (expected_grads,) = ours_vjp(cotangent), reference_vjp(cotangent)
    for path, got in jax.tree_util.tree_leaves_with_path(grads):
        want = functools.reduce(lambda t, k: t[k.key], path, expected_grads)
        scale = float(jnp.abs(want).max())
        np.testing.assert_allclose(got, want, atol=1e-5 * scale, rtol=0, err_msg=jax.tree_util.keystr(path))
    # Rows nobody looked up get exactly no gradient (one-hot columns of zeros), as with the gather.
    unused = np.setdiff1d(np.arange(config.vocab_size), np.asarray(ids))
    assert not np.asarray(grads["word_embeddings"]["embedding"])[unused].any()


def test_sequence_longer_than_the_position_table_is_an_error():
    ids = jnp.zeros((1, CONFIG.max_position_embeddings + 1), jnp.int32)
    with pytest.raises(ValueError, match="exceeds max_position_embeddings=64"):
        BertEmbeddings(CONFIG).init(jax.random.PRNGKey(0), ids, ids, None, True)


def small_table_scatters(hlo_text: str, max_rows: int, hidden: int) -> list[str]:
    """Scatter instructions whose result is a [rows ≤ max_rows, hidden] table (an embedding gradient)."""
    found = []
    for line in hlo_text.splitlines():
        match = re.search(r"= (?:\w+)\[(\d+),(\d+)\][^ ]* scatter\(", line)
        if match and int(match.group(1)) <= max_rows and int(match.group(2)) == hidden:
            found.append(line.strip()[:160])
    return found


def compiled_train_step_hlo(config: BertConfig, packed: bool) -> str:
    """Optimised HLO of the AdamW pretraining train step on a batch of 8 × 32 tokens (5 predictions a row)."""
    model, task = BertWithHead(config, PretrainingHeads(config)), PretrainingStep()
    tx = create_optimizer("adamw", 1e-4)
    ids, types, positions = _inputs(batch=8, seq=32)
    batch = {"input_ids": ids, "token_type_ids": types, "attention_mask": jnp.ones_like(ids),
             "masked_lm_positions": jnp.tile(jnp.arange(1, 6), (8, 1)), "masked_lm_ids": ids[:, 1:6],
             "masked_lm_weights": jnp.ones((8, 5)), "next_sentence_label": jnp.zeros(8, jnp.int32)}
    if packed:
        batch.update(position_ids=positions, segment_ids=jnp.where(jnp.arange(32) < 10, 1, 2) * jnp.ones_like(ids),
                     cls_positions=jnp.tile(jnp.array([0, 10]), (8, 1)),
                     next_sentence_label=jnp.zeros((8, 2), jnp.int32), next_sentence_weights=jnp.ones((8, 2)))
    example = {k: v[:1] for k, v in batch.items()}
    state = jax.eval_shape(lambda r: nn.unbox(create_state(r, model=model, tx=tx, example=example, task=task)),
                           jax.random.PRNGKey(0))
    step = jax.jit(functools.partial(train_step, model=model, task=task, tx=tx), donate_argnums=0)
    return step.lower(state, batch).compile().as_text()


@pytest.mark.parametrize("packed", [False, True])
def test_compiled_train_step_never_scatters_into_a_small_table(packed):
    config = CONFIG.replace(hidden_dropout_prob=0.1)
    hlo = compiled_train_step_hlo(config, packed)
    assert not small_table_scatters(hlo, config.max_position_embeddings, config.hidden_size)
    # The word table (700 rows > 64) still is a gather whose gradient scatters: the detector sees it.
    assert re.search(r"f32\[700,128\][^ ]* scatter\(", hlo)


def test_the_scatter_detector_finds_a_gathered_small_table():
    """Positive control: the gradient of a gather from a 64-row table compiles to a scatter the check finds."""
    table = jnp.ones((CONFIG.max_position_embeddings, CONFIG.hidden_size))
    ids = jnp.asarray(np.random.default_rng(0).integers(0, 64, (8, 32)), jnp.int32)
    grad = jax.jit(jax.grad(lambda t, i: (jnp.take(t, i, axis=0) ** 2).sum()))
    hlo = grad.lower(table, ids).compile().as_text()
    assert small_table_scatters(hlo, CONFIG.max_position_embeddings, CONFIG.hidden_size)

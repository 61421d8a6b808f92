"""Packing several examples per row: the packer's invariants, and that a packed batch computes what the
same examples compute padded one per row (per-example outputs and the pretraining loss)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bert_jax.bench.finetune_bench import packed_batches, padded_batches, sst2_like_lengths
from bert_jax.bench.pretrain_bench import packed_batch, padded_batch
from bert_jax.convert import init_params
from bert_jax.data.packing import pack_lengths, pack_rows
from bert_jax.models.bert import BertConfig, BertModel
from bert_jax.models.heads import BertWithHead, PretrainingHeads
from bert_jax.tasks.pretrain import pretraining_inputs, pretraining_loss

CFG = BertConfig.preset("tiny", vocab_size=200, max_position_embeddings=64, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)


def test_pack_lengths_keeps_every_example_once_within_width_and_row_limit():
    lengths = np.random.default_rng(0).integers(1, 40, 500)
    rows = pack_lengths(lengths, 64, 5)
    assert sorted(i for row in rows for i in row) == list(range(500))
    assert all(sum(lengths[i] for i in row) <= 64 and 1 <= len(row) <= 5 for row in rows)
    # First fit over open rows fills rows well: within 10% of the ideal row count.
    assert len(rows) <= 1.1 * np.ceil(lengths.sum() / 64)
    with pytest.raises(ValueError, match="example 1 has 70 tokens; a packed row holds 64"):
        pack_lengths([3, 70], 64, 5)


def test_pack_rows_layout_by_hand():
    out = pack_rows([[2, 7, 3], [2, 9, 9, 3]], [[0, 0, 0], [0, 1, 1, 1]], [[1, 0]], width=8, max_per_row=3)
    np.testing.assert_array_equal(out["input_ids"], [[2, 9, 9, 3, 2, 7, 3, 0]])
    np.testing.assert_array_equal(out["token_type_ids"], [[0, 1, 1, 1, 0, 0, 0, 0]])
    np.testing.assert_array_equal(out["position_ids"], [[0, 1, 2, 3, 0, 1, 2, 0]])
    np.testing.assert_array_equal(out["segment_ids"], [[1, 1, 1, 1, 2, 2, 2, 0]])
    np.testing.assert_array_equal(out["attention_mask"], [[1, 1, 1, 1, 1, 1, 1, 0]])
    np.testing.assert_array_equal(out["cls_positions"], [[0, 4, 0]])
    np.testing.assert_array_equal(out["example_index"], [[1, 0, -1]])


def test_packed_classification_batch_pools_each_example_as_its_padded_row():
    """Fine-tuning packing: each example's pooled [CLS] from a packed row equals its pooled output from
    the padded batch (the finetune benchmark's two layouts of the same examples)."""
    lengths = sst2_like_lengths(np.random.default_rng(1), 24)
    rng = np.random.default_rng(2)
    ids = [np.concatenate([[2], rng.integers(5, 200, n - 2), [3]]) for n in lengths]
    types = [np.zeros(n, np.int32) for n in lengths]
    labels = rng.integers(0, 2, 24)
    padded = padded_batches(ids, types, labels, 24, 8, 64)[0]
    packed = packed_batches(ids, types, labels, 24, 64, 8)[0]
    assert len(packed["input_ids"]) < 24 // 2  # several examples per row
    model = BertModel(CFG)
    params = init_params(model, jax.random.PRNGKey(0))
    alone = model.apply({"params": params}, padded["input_ids"], padded["token_type_ids"], padded["attention_mask"])
    together = model.apply({"params": params}, packed["input_ids"], packed["token_type_ids"],
                           packed["attention_mask"], packed["position_ids"], packed["segment_ids"],
                           packed["cls_positions"])
    # Map every filled [CLS] slot back to its example through the labels' order in pack_lengths.
    rows = pack_lengths(lengths, 64, 8)
    for r, members in enumerate(rows):
        for k, index in enumerate(members):
            np.testing.assert_allclose(together.pooled_output[r, k], alone.pooled_output[index], atol=2e-5)
            assert packed["label_weights"][r, k] == 1 and packed["labels"][r, k] == labels[index]
    assert packed["label_weights"].sum() == 24


def test_packed_pretraining_batch_has_the_padded_batchs_loss():
    """Pretraining packing: the same examples padded (one per row) or packed give the same MLM and NSP
    losses and accuracies: no attention crosses examples and every target moves with its example."""
    lengths = np.random.default_rng(3).integers(8, 64, 12)
    padded = padded_batch(CFG, lengths, 64, seed=4)
    packed = packed_batch(padded, 64, max_per_row=4)
    assert len(packed["input_ids"]) < 12
    model = BertWithHead(CFG, PretrainingHeads(CFG))
    params = nn.unbox(model.init(jax.random.PRNGKey(5), **pretraining_inputs(
        {k: jnp.asarray(v[:1]) for k, v in padded.items()})))["params"]

    def losses(batch):
        batch = {k: jnp.asarray(v) for k, v in batch.items()}
        total, metrics = pretraining_loss(model.apply({"params": params}, **pretraining_inputs(batch)), batch)
        return {"total": total, **metrics}

    a, b = losses(padded), losses(packed)
    for name in a:
        np.testing.assert_allclose(b[name], a[name], rtol=1e-5, err_msg=name)

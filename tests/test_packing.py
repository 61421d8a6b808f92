"""Packing several examples per row: the packer's invariants, and that a packed batch computes what the
same examples compute padded one per row (per-example outputs and the pretraining loss)."""


import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bert_jax.bench.finetune_bench import like_lengths, packed_batches, padded_batches
from bert_jax.bench.pretrain_bench import packed_batch, padded_batch
from bert_jax.convert import init_params
from bert_jax.data.loaders import host_batches
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
    lengths = like_lengths(np.random.default_rng(1), 24)
    rng = np.random.default_rng(2)
    ids = [np.concatenate([[2], rng.integers(5, 200, n - 2), [3]]) for n in lengths]
    types = [np.zeros(n, np.int32) for n in lengths]
    labels = rng.integers(0, 2, 24)
    padded = padded_batches(ids, types, labels, 24, 8, 64)[0]
    packed = packed_batches(ids, types, labels, 24, 64, 8)[0]
    assert len(packed["input_ids"]) < 24 // 2  # several examples per row
    model = BertModel(CFG)
    params = init_params(model, jax.random.PRNGKey(0))
    apply = jax.jit(model.apply)  # op by op, the forward compiles a hundred one-op programs
    alone = apply({"params": params}, padded["input_ids"], padded["token_type_ids"], padded["attention_mask"])
    together = apply({"params": params}, packed["input_ids"], packed["token_type_ids"], packed["attention_mask"],
                     packed["position_ids"], packed["segment_ids"], packed["cls_positions"])
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
    # Jitted: op by op, the model's forward compiles a few hundred one-op programs (~12 s of this test).
    params = nn.unbox(jax.jit(model.init)(jax.random.PRNGKey(5), **pretraining_inputs(
        {k: jnp.asarray(v[:1]) for k, v in padded.items()})))["params"]

    @jax.jit
    def losses(batch):
        total, metrics = pretraining_loss(model.apply({"params": params}, **pretraining_inputs(batch)), batch)
        return {"total": total, **metrics}

    a, b = (losses({k: jnp.asarray(v) for k, v in batch.items()}) for batch in (padded, packed))
    for name in a:
        np.testing.assert_allclose(b[name], a[name], rtol=1e-5, err_msg=name)


def _glue_task(tmp_path, subtask, folder, vocab, **data):
    from bert_jax.config_base import finetuning_config
    from bert_jax.tasks import (
        base,
        glue,  # noqa: F401  (registers the task)
    )

    config = finetuning_config("glue")
    config.task.subtask = subtask
    config.model.preset = "tiny"
    config.model.hidden_dropout_prob = 0.0
    config.data.update(dir=folder, vocab=vocab, **data)
    config.batch_size = 32
    return base.get("glue")(config, str(tmp_path / subtask))


@pytest.mark.parametrize("subtask", ["rte", "stsb"])
def test_packed_glue_training_batch_has_the_unpacked_loss(tmp_path, subtask, minilm_dir, shared_or_none):
    """GLUE with data.pack_per_row: training batch k holds the same examples as unpacked batch k, and the
    task's loss (cross-entropy for RTE, MSE for STS-B regression) and accuracy are the same on both."""
    from tests.test_finetune import rte_folder

    if subtask == "rte":
        folder = rte_folder(str(tmp_path), shared_or_none)
    elif shared_or_none is None:
        pytest.skip("STS-B comes from ../shared/data")
    else:
        folder = f"{shared_or_none}/glue/STS-B"
    vocab = f"{minilm_dir}/vocab.txt"
    plain = _glue_task(tmp_path, subtask, folder, vocab)
    packed = _glue_task(tmp_path, subtask, folder, vocab, pack_per_row=6, packed_row_multiple=4)
    model = BertWithHead(plain.model_config, plain.head())
    for k in (0, 7):
        a, b = host_batches(plain, plain.config, "train")[k], host_batches(packed, packed.config, "train")[k]
        assert b["label_weights"].sum() == len(a["labels"]) == 32
        assert len(b["input_ids"]) % 4 == 0 and len(b["input_ids"]) < 32
        np.testing.assert_allclose(np.sort(b["labels"][b["label_weights"] > 0]), np.sort(a["labels"]))
        if k == 0:  # jitted, as in the test above
            params = nn.unbox(jax.jit(lambda r, a=a: model.init(r, **plain.inputs(a)))(jax.random.PRNGKey(0)))["params"]
            loss = jax.jit(lambda params, batch, task: plain.loss(model.apply({"params": params}, **task.inputs(batch)),
                                                                  batch), static_argnames="task")
        losses = [loss(params, batch, task=task) for task, batch in ((plain, a), (packed, b))]
        np.testing.assert_allclose(losses[1][0], losses[0][0], rtol=1e-5)
        for name in losses[0][1]:
            np.testing.assert_allclose(losses[1][1][name], losses[0][1][name], rtol=1e-6)


def test_packing_is_refused_where_examples_are_not_one_pooled_row(tmp_path, minilm_dir):
    from bert_jax.config_base import finetuning_config
    from bert_jax.tasks import (
        base,
        ner,  # noqa: F401  (registers the task)
    )

    config = finetuning_config("ner")
    config.data.update(vocab=f"{minilm_dir}/vocab.txt", pack_per_row=4)
    with pytest.raises(ValueError, match="pack_per_row=4: packing is for sentence.*task 'ner' needs pack_per_row=1"):
        base.get("ner")(config, str(tmp_path))


@pytest.mark.slow
def test_packed_glue_run_trains_evaluates_and_writes_predictions(tmp_path, minilm_dir, shared_or_none):
    """The whole path from the command line with packed training rows; evaluation stays unpacked."""
    import json

    from tests.test_finetune import cli, read_tsv_rows, rte_folder

    folder = rte_folder(str(tmp_path), shared_or_none)
    workdir = tmp_path / "run"
    cli("glue.py:rte,runlocal", workdir, f"--config.data.dir={folder}", f"--config.data.vocab={minilm_dir}/vocab.txt",
        "--config.data.pack_per_row=4")
    results = json.loads((workdir / "eval_results.json").read_text())
    assert 0.0 <= results["accuracy"] <= 1.0
    dev = read_tsv_rows(workdir / "predictions" / "dev.tsv")
    assert len(dev) > 1 and {row[1] for row in dev[1:]} <= {"entailment", "not_entailment"}
    train_lines = [json.loads(x) for x in open(workdir / "metrics.jsonl") if '"train"' in x]
    assert train_lines and all(np.isfinite(line["loss"]) for line in train_lines)

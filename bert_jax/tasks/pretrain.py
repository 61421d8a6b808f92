"""Pretraining: MLM (gathered masked positions) + NSP, from raw text to training batches.

Data preparation runs once per data directory (default ``<workdir>/data``): read the corpus, train a
WordPiece vocab if none is given, tokenize, build Google's NSP pairs for train and held-out documents,
write shards, then ``meta.json``. A directory with a meta.json that matches the settings is reused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random

import jax
import jax.numpy as jnp
import numpy as np

from bert_jax import distributed, flops
from bert_jax.config_base import model_overrides
from bert_jax.data import pipeline, sources
from bert_jax.data.packing import PACKING_KEYS
from bert_jax.data.pretraining import MaskOptions, PairOptions, create_pairs, packed_features
from bert_jax.data.tokenizer import load_tokenizer, tokenizer_file
from bert_jax.data.vocab_training import train_wordpiece
from bert_jax.io_utils import atomic_path
from bert_jax.models.bert import BertConfig
from bert_jax.models.heads import PretrainingHeads
from bert_jax.tasks.base import Task, register
from bert_jax.tasks.losses import cross_entropy_with_integer_labels

log = logging.getLogger(__name__)

DATA_KEYS = ("source", "paths", "tfds_split", "text_key", "vocab", "vocab_size", "lowercase", "max_seq_length",
             "short_seq_prob", "dupe_factor", "eval_document_stride", "documents_per_block", "pack_per_row")


def _corpus_paths(data) -> list[str]:
    return [p for p in str(data.paths).split(",") if p] if data.paths else []


@register("pretrain")
class PretrainTask(Task):
    def __init__(self, config, workdir: str):
        super().__init__(config, workdir)
        data = config.data
        self.data_dir = data.dir or os.path.join(workdir, "data")
        self.mask = MaskOptions(data.masked_lm_prob, data.max_predictions_per_seq, data.whole_word_mask)
        self._prepare()
        self.tokenizer = load_tokenizer(self._vocab_path(), lowercase=data.lowercase)
        self.model_config = pretraining_model_config(config, self.tokenizer.vocab_size)

    # ------------------------------------------------------------------ data preparation (host, once)
    def _vocab_path(self) -> str:
        return self.config.data.vocab or os.path.join(self.data_dir, "vocab")

    def _settings(self) -> dict:
        data = self.config.data
        return {k: data[k] for k in DATA_KEYS} | {"seed": self.config.seed}

    def _prepare(self) -> None:
        """Process 0 prepares while the others wait at a barrier. Preparation is a pure function of the
        config, so a host that still finds no data after the barrier (a workdir on host-local disk, not a
        shared filesystem) prepares its own identical copy."""
        if jax.process_index() == 0:
            self._prepare_here()
        if jax.process_count() > 1:
            distributed.wait_for_all(f"bert_jax: pretraining data prepared in {self.data_dir}")
            if jax.process_index() != 0:
                self._prepare_here()

    def _prepare_here(self) -> None:
        settings = self._settings()
        meta = pipeline.read_meta(self.data_dir)
        if meta is not None:
            if meta["settings"] != settings:
                raise ValueError(f"{self.data_dir} holds data made with other settings {meta['settings']}; "
                                 f"this run asks for {settings}. Use another config.data.dir or the same settings.")
            return
        data = self.config.data
        paths = _corpus_paths(data)
        if data.source != "python_docstrings" and not paths:
            raise ValueError(f"config.data.paths is empty; corpus source {data.source!r} needs files")
        os.makedirs(self.data_dir, exist_ok=True)
        tfds_options = {"split": data.tfds_split, "data_dir": data.tfds_data_dir, "text_key": data.text_key}

        def documents():  # re-read per pass: the corpus is streamed, never held in memory
            return sources.read_documents(data.source, paths, **(tfds_options if data.source == "tfds" else {}))

        if not data.vocab:
            corpus_file = os.path.join(self.data_dir, "corpus.txt")
            with atomic_path(corpus_file) as tmp, open(tmp, "w", encoding="utf-8") as f:
                for doc in documents():
                    f.write("\n".join(doc) + "\n\n")
            if os.path.getsize(corpus_file) == 0:
                raise ValueError(f"the corpus ({data.source}: {paths or 'stdlib docstrings'}) has no documents")
            train_wordpiece(corpus_file, data.vocab_size, self._vocab_path(), lowercase=data.lowercase)
        tokenizer = load_tokenizer(self._vocab_path(), lowercase=data.lowercase)
        stride = data.eval_document_stride
        options = PairOptions(data.max_seq_length, data.short_seq_prob, data.dupe_factor)
        counts, n_documents = {}, {}

        def split_documents(held_out: bool, split: str):
            n_documents[split] = 0
            for i, doc in enumerate(documents()):
                if (i % stride == stride - 1) == held_out:
                    n_documents[split] += 1
                    yield doc

        for offset, split in enumerate(("train", "eval")):
            tokenized = ([p.ids for p in tokenizer.split(doc)] for doc in split_documents(split == "eval", split))
            pairs = create_pairs(tokenized, options, tokenizer.cls_id, tokenizer.sep_id,
                                 seed=self.config.seed + offset, documents_per_block=data.documents_per_block)
            counts[split] = pipeline.write_pair_shards(pairs, self.data_dir, split, data.max_seq_length,
                                                       max_per_row=data.pack_per_row)
            if counts[split] == 0:
                if split == "train" and n_documents["train"] == 0:
                    raise ValueError(f"the corpus ({data.source}: {paths or 'stdlib docstrings'}) has no documents")
                raise ValueError(f"the corpus gave no '{split}' pairs ({n_documents[split]} documents); "
                                 "it is too small")
        vocab_hash = hashlib.sha256(open(tokenizer_file(self._vocab_path()), "rb").read()).hexdigest()
        pipeline.write_meta(self.data_dir, {"settings": settings, "pairs": counts, "documents": n_documents,
                                            "vocab_sha256": vocab_hash})
        log.info("prepared %s: %s pairs from %s documents", self.data_dir, json.dumps(counts),
                 json.dumps(n_documents))

    # ------------------------------------------------------------------------------ Task interface
    def head(self):
        return PretrainingHeads(self.model_config)

    def dataset(self, split: str):
        """train: shuffled, repeated, dynamically masked; eval: one fixed pass, static masks."""
        cfg, tok = self.config, self.tokenizer
        training = split == "train"
        per_host = (cfg.batch_size if training else cfg.eval_batch_size) // jax.process_count()
        return pipeline.pretraining_batches(
            pipeline.PairSource(self.data_dir, split), per_host, cfg.data.max_seq_length, self.mask,
            tok.special_ids, tok.mask_id, tok.vocab_size, tok.continuation_mask(), seed=cfg.seed,
            dynamic_masking=training and cfg.data.dynamic_masking, shuffle=training, repeat=training,
        )

    def inputs(self, batch):
        return pretraining_inputs(batch)

    def loss(self, outputs, batch):
        return pretraining_loss(outputs, batch)

    def predict(self, outputs, batch):
        mlm_logits = outputs["mlm_logits"].astype(jnp.float32)
        nsp_logits = outputs["nsp_logits"].astype(jnp.float32)
        return {
            "mlm_prediction": jnp.argmax(mlm_logits, -1),
            "mlm_nll": cross_entropy_with_integer_labels(mlm_logits, batch["masked_lm_ids"]),
            "masked_lm_ids": batch["masked_lm_ids"],
            "masked_lm_weights": batch["masked_lm_weights"],
            "nsp_prediction": jnp.argmax(nsp_logits, -1),
            "next_sentence_label": batch["next_sentence_label"],
            "next_sentence_weights": _nsp_weights(batch),
        }

    def flops_per_example(self):
        data = self.config.data
        return flops.pretraining_flops_per_sequence(self.model_config, data.max_seq_length,
                                                    data.max_predictions_per_seq)

    def evaluate(self, predictions, split):
        """Held-out MLM accuracy/loss/perplexity, NSP accuracy, and the most-frequent-token baseline
        (always predicting the commonest masked token of this split)."""
        w = predictions["masked_lm_weights"] > 0
        labels = predictions["masked_lm_ids"][w]
        counts = np.bincount(labels)
        mlm_loss = float(np.mean(predictions["mlm_nll"][w]))
        return {
            "mlm_accuracy": float(np.mean(predictions["mlm_prediction"][w] == labels)),
            "mlm_loss": mlm_loss,
            "mlm_perplexity": float(np.exp(mlm_loss)),
            "mlm_most_frequent_token_accuracy": float(counts.max() / counts.sum()),
            "mlm_most_frequent_token": self.tokenizer.id_to_token(int(counts.argmax())),
            "nsp_accuracy": float(np.mean((predictions["nsp_prediction"] == predictions["next_sentence_label"])[
                predictions["next_sentence_weights"] > 0])),
            "masked_tokens": int(w.sum()),
        }


def pretraining_model_config(config, vocab_size: int) -> BertConfig:
    """config.model's preset and fields with the tokenizer's vocab size."""
    model_config = BertConfig.preset(config.model.preset, vocab_size=vocab_size, **model_overrides(config))
    if config.data.max_seq_length > model_config.max_position_embeddings:
        raise ValueError(f"config.data.max_seq_length={config.data.max_seq_length} exceeds the model's "
                         f"max_position_embeddings={model_config.max_position_embeddings}")
    return model_config


def abstract_train_batch(config) -> dict[str, jax.ShapeDtypeStruct]:
    """Shapes and dtypes of one global training batch of ``config``, read off the featurizer the pipeline
    runs (one row made from a two-token pair) without any corpus: what aot.py compiles the step for."""
    data = config.data
    mask = MaskOptions(data.masked_lm_prob, data.max_predictions_per_seq, data.whole_word_mask)
    row = packed_features([([0, 1], [0, 0], False)], data.max_seq_length, data.pack_per_row, mask,
                          special_ids=frozenset({0}), mask_id=0, vocab_size=2, is_continuation=None,
                          rng=random.Random(0), packed=data.pack_per_row > 1)
    return {k: jax.ShapeDtypeStruct((config.batch_size, *np.shape(v)), np.asarray(v).dtype) for k, v in row.items()}


def pretraining_inputs(batch: dict) -> dict:
    """Model call arguments; packed batches add restarted positions, packing ids and [CLS] positions."""
    inputs = {"input_ids": batch["input_ids"], "token_type_ids": batch["token_type_ids"],
              "attention_mask": batch["attention_mask"], "masked_positions": batch["masked_lm_positions"]}
    inputs.update({k: batch[k] for k in PACKING_KEYS if k in batch})
    return inputs


def _nsp_weights(batch: dict) -> jax.Array:
    """1 per real NSP label: all ones unpacked ([batch]); next_sentence_weights packed ([batch, k])."""
    if "next_sentence_weights" in batch:
        return batch["next_sentence_weights"]
    return jnp.ones(batch["next_sentence_label"].shape, jnp.float32)


def pretraining_loss(outputs: dict, batch: dict):
    """Google's: weighted mean MLM cross-entropy over real predictions + mean NSP cross-entropy."""
    mlm_logits = outputs["mlm_logits"].astype(jnp.float32)
    weights = batch["masked_lm_weights"]
    mlm_per = cross_entropy_with_integer_labels(mlm_logits, batch["masked_lm_ids"])
    mlm_loss = jnp.sum(mlm_per * weights) / (jnp.sum(weights) + 1e-5)
    nsp_logits = outputs["nsp_logits"].astype(jnp.float32)
    nsp_w = _nsp_weights(batch)
    nsp_per = cross_entropy_with_integer_labels(nsp_logits, batch["next_sentence_label"])
    nsp_loss = jnp.sum(nsp_per * nsp_w) / jnp.sum(nsp_w)
    mlm_acc = jnp.sum((jnp.argmax(mlm_logits, -1) == batch["masked_lm_ids"]) * weights) / (jnp.sum(weights) + 1e-5)
    nsp_acc = jnp.sum((jnp.argmax(nsp_logits, -1) == batch["next_sentence_label"]) * nsp_w) / jnp.sum(nsp_w)
    return mlm_loss + nsp_loss, {"mlm_loss": mlm_loss, "nsp_loss": nsp_loss, "mlm_accuracy": mlm_acc,
                                 "nsp_accuracy": nsp_acc}


class PretrainingStep:
    """The pretraining task's jitted part alone (model inputs and loss), for code that runs the step
    without the task's data: aot.py and the benchmarks."""

    inputs = staticmethod(pretraining_inputs)
    loss = staticmethod(pretraining_loss)

"""Pretraining: MLM (gathered masked positions) + the family's sentence objective: BERT's NSP, ALBERT's SOP,
none for RoBERTa (FULL-SENTENCES) and DistilBERT. The data is prepared once per data directory
(data/pretraining_prep.py) and batched by data/pipeline.py (the task's data spec is a ``PairSpec``).
"""

from __future__ import annotations

import os
import random

import jax
import jax.numpy as jnp
import numpy as np

from bert_jax import flops
from bert_jax.config_base import model_overrides
from bert_jax.data import pipeline, pretraining_prep
from bert_jax.data.packing import PACKING_KEYS
from bert_jax.data.pretraining import MaskOptions, packed_features
from bert_jax.data.tokenizer import load_tokenizer
from bert_jax.models.bert import BertConfig
from bert_jax.models.heads import PretrainingHeads
from bert_jax.tasks.base import Task, register
from bert_jax.tasks.losses import cross_entropy_with_integer_labels
from bert_jax.tasks.pretrain_eval import MaskedLmScores


@register("pretrain")
class PretrainTask(Task):
    def __init__(self, config, workdir: str):
        super().__init__(config, workdir)
        data = config.data
        self.data_dir = data.dir or os.path.join(workdir, "data")
        self.mask = MaskOptions(data.masked_lm_prob, data.max_predictions_per_seq, data.whole_word_mask)
        pretraining_prep.prepare(self.data_dir, data, config.seed)
        self.tokenizer = load_tokenizer(pretraining_prep.vocab_path(data, self.data_dir), lowercase=data.lowercase)
        self.model_config = self._model_config()

    def _model_config(self) -> BertConfig:
        return pretraining_model_config(self.config, self.tokenizer)

    # ------------------------------------------------------------------------------ Task interface
    def head(self):
        return PretrainingHeads(self.model_config)

    def data_spec(self, split: str) -> pipeline.PairSpec:
        tok = self.tokenizer
        return pipeline.PairSpec(self.data_dir, split, self.config.data.max_seq_length, self.mask, tok.special_ids,
                                 tok.mask_id, tok.vocab_size, tok.continuation_mask(), self.config.data.dynamic_masking,
                                 tok.pad_id)

    def inputs(self, batch):
        return pretraining_inputs(batch)

    def loss(self, outputs, batch):
        return pretraining_loss(outputs, batch)

    def predict(self, outputs, batch):
        mlm_logits = outputs["mlm_logits"].astype(jnp.float32)
        out = {
            "mlm_prediction": jnp.argmax(mlm_logits, -1),
            "mlm_nll": cross_entropy_with_integer_labels(mlm_logits, batch["masked_lm_ids"]),
            "masked_lm_ids": batch["masked_lm_ids"],
            "masked_lm_weights": batch["masked_lm_weights"],
        }
        if "nsp_logits" in outputs:
            out.update(nsp_prediction=jnp.argmax(outputs["nsp_logits"].astype(jnp.float32), -1),
                       next_sentence_label=batch["next_sentence_label"], next_sentence_weights=_nsp_weights(batch))
        return out

    def flops_per_example(self):
        data = self.config.data
        return flops.pretraining_flops_per_sequence(self.model_config, data.max_seq_length,
                                                    data.max_predictions_per_seq)

    def evaluators(self):
        return (MaskedLmScores(self.tokenizer, self.model_config.sentence_head),)


def pretraining_model_config(config, tokenizer) -> BertConfig:
    """config.model's preset and fields with the tokenizer's vocab size and pad id (a Tokenizer, or the vocab
    size alone where no tokenizer exists: aot.py); its sentence head must be the one the data was made for."""
    vocab_size = tokenizer if isinstance(tokenizer, int) else tokenizer.vocab_size
    special = {} if isinstance(tokenizer, int) else {"pad_token_id": tokenizer.pad_id}
    model_config = BertConfig.preset(config.model.preset, vocab_size=vocab_size,
                                     **{**special, **model_overrides(config)})
    longest = model_config.max_position_embeddings - model_config.position_offset
    if config.data.max_seq_length > longest:
        raise ValueError(f"config.data.max_seq_length={config.data.max_seq_length} exceeds the model's {longest} "
                         f"positions (max_position_embeddings={model_config.max_position_embeddings}"
                         + (f" less RoBERTa's offset {model_config.position_offset})" if longest < model_config.
                            max_position_embeddings else ")"))
    objective = model_config.sentence_head or "none"
    if config.data.sentence_task != objective:
        raise ValueError(f"config.data.sentence_task={config.data.sentence_task!r} but a {model_config.model_type} "
                         f"model trains {objective!r} (BERT nsp, ALBERT sop, RoBERTa and DistilBERT none)")
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


def masked_lm_loss(mlm_logits: jax.Array, batch: dict) -> tuple[jax.Array, jax.Array]:
    """(weighted mean MLM cross-entropy over real predictions, accuracy) of [batch, n, vocab] logits."""
    mlm_logits = mlm_logits.astype(jnp.float32)
    weights = batch["masked_lm_weights"]
    mlm_per = cross_entropy_with_integer_labels(mlm_logits, batch["masked_lm_ids"])
    mlm_loss = jnp.sum(mlm_per * weights) / (jnp.sum(weights) + 1e-5)
    # Correct where the label's logit is the largest: a max and a gather, where argmax (a variadic reduce
    # over values and indices) was 5% of a CPU quickstart step. Differs from argmax == label only on exact ties.
    label_logit = jnp.take_along_axis(mlm_logits, batch["masked_lm_ids"][..., None], axis=-1)[..., 0]
    mlm_correct = label_logit >= jnp.max(mlm_logits, axis=-1)
    return mlm_loss, jnp.sum(mlm_correct * weights) / (jnp.sum(weights) + 1e-5)


def pretraining_loss(outputs: dict, batch: dict):
    """Google's: weighted mean MLM cross-entropy over real predictions + mean NSP (or SOP: the same labels,
    1 = not in order) cross-entropy where the model has a sentence head."""
    mlm_loss, mlm_acc = masked_lm_loss(outputs["mlm_logits"], batch)
    aux = {"mlm_loss": mlm_loss, "mlm_accuracy": mlm_acc}
    if "nsp_logits" not in outputs:
        return mlm_loss, aux
    nsp_logits = outputs["nsp_logits"].astype(jnp.float32)
    nsp_w = _nsp_weights(batch)
    nsp_per = cross_entropy_with_integer_labels(nsp_logits, batch["next_sentence_label"])
    nsp_loss = jnp.sum(nsp_per * nsp_w) / jnp.sum(nsp_w)
    nsp_acc = jnp.sum((jnp.argmax(nsp_logits, -1) == batch["next_sentence_label"]) * nsp_w) / jnp.sum(nsp_w)
    return mlm_loss + nsp_loss, {**aux, "nsp_loss": nsp_loss, "nsp_accuracy": nsp_acc}


class PretrainingStep:
    """The pretraining task's jitted part alone (model inputs and loss), for code that runs the step
    without the task's data: aot.py and the benchmarks."""

    inputs = staticmethod(pretraining_inputs)
    loss = staticmethod(pretraining_loss)

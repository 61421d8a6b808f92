"""Task heads that sit on ``BertModel`` and the wrapper that joins them.

Each head takes the encoder's ``BertOutput`` and returns a dict of arrays. Submodule names follow HF
(``predictions``, ``seq_relationship``, ``classifier``, ``qa_outputs``) so convert.py maps them directly.
``BertWithHead`` holds params as ``{"bert": encoder, "head": head}``.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from bert_jax.models.bert import BertConfig, BertModel, BertOutput, dense, layer_norm, param_init, token_product
from bert_jax.models.dropout import Dropout


def gather_positions(sequence: jax.Array, positions: jax.Array) -> jax.Array:
    """sequence [batch, seq, hidden], positions [batch, n] → [batch, n, hidden]."""
    return jnp.take_along_axis(sequence, positions[..., None].astype(jnp.int32), axis=1)


class _MlmTransform(nn.Module):
    """dense (hidden → embedding width: ALBERT's E) → act → LayerNorm."""

    config: BertConfig

    @nn.compact
    def __call__(self, x):
        cfg = self.config
        x = dense(cfg, cfg.embedding_width, (None, "embed"), "dense")(x)
        return layer_norm(cfg)(cfg.activation()(x))


class MaskedLMHead(nn.Module):
    """HF ``cls.predictions``: dense → act → LayerNorm → logits over the vocab with the decoder tied to
    the word embeddings, plus an output bias.

    ``masked_positions`` [batch, n] computes logits only there: [batch, n, vocab] instead of
    [batch, seq, vocab], which is most of the MLM head's FLOPs and memory at 15% masking.
    """

    config: BertConfig

    @nn.compact
    def __call__(self, encoder_out: BertOutput, masked_positions=None):
        cfg = self.config
        x = encoder_out.sequence_output
        if masked_positions is not None:
            x = gather_positions(x, masked_positions)
        x = _MlmTransform(cfg, name="transform")(x)
        bias = self.param("bias", param_init(cfg, ("vocab",), "zeros"), (cfg.vocab_size,), cfg.params_dtype)
        table = encoder_out.word_embeddings.astype(cfg.compute_dtype)
        logits = token_product(x, table.T) + bias.astype(cfg.compute_dtype)  # the transpose folds into the product
        return nn.with_logical_constraint(logits, ("act_batch", "act_len", "act_vocab"))


class PretrainingHeads(nn.Module):
    """HF ``BertForPreTraining.cls``: MLM logits [batch, n|seq, vocab] and, for a family with a sentence-level
    objective (BERT's NSP, ALBERT's SOP: ``config.sentence_head``), its logits [batch, 2] ([batch, k, 2] for
    packed rows pooled at k [CLS] positions) as ``nsp_logits``. RoBERTa and DistilBERT: MLM only."""

    config: BertConfig
    with_sentence_head: bool = True  # False: the MLM head alone (what a *ForMaskedLM checkpoint holds)

    @nn.compact
    def __call__(self, encoder_out: BertOutput, masked_positions=None, deterministic: bool = True):
        out = {"mlm_logits": MaskedLMHead(self.config, name="predictions")(encoder_out, masked_positions)}
        if self.config.sentence_head and self.with_sentence_head:
            out["nsp_logits"] = dense(self.config, 2, ("embed", None), "seq_relationship")(encoder_out.pooled_output)
        return out


def sentence_vector(head: nn.Module, encoder_out: BertOutput) -> jax.Array:
    """The pooled [CLS] [..., hidden]; for an encoder without a pooler (DistilBERT), the [CLS] state through the
    head's own ``pre_classifier`` dense and ReLU, as DistilBertForSequenceClassification does."""
    if encoder_out.pooled_output is not None:
        return encoder_out.pooled_output
    cls = encoder_out.first_token
    return jax.nn.relu(dense(head.config, head.config.hidden_size, (None, "embed"), "pre_classifier")(cls))


def _dropout_then_dense(head: nn.Module, x, features: int, name: str, deterministic: bool):
    """HF's classifier pattern; called inside a head's compact method, so the layers belong to the head."""
    rate = head.config.hidden_dropout_prob if head.dropout_rate is None else head.dropout_rate
    x = Dropout(rate)(x, deterministic=deterministic)
    return dense(head.config, features, ("embed", None), name)(x)


class SequenceClassificationHead(nn.Module):
    """Dropout → dense on the pooled [CLS] (``sentence_vector``): logits [batch, num_labels]; num_labels=1 is
    regression."""

    config: BertConfig
    num_labels: int
    dropout_rate: float | None = None  # None → hidden_dropout_prob, as HF's classifier_dropout

    @nn.compact
    def __call__(self, encoder_out: BertOutput, deterministic: bool = True):
        x = sentence_vector(self, encoder_out)
        return {"logits": _dropout_then_dense(self, x, self.num_labels, "classifier", deterministic)}


class MultipleChoiceHead(nn.Module):
    """Scores each (context, choice) row: pooled [batch·choices, hidden] → logits [batch, choices]."""

    config: BertConfig
    num_choices: int
    dropout_rate: float | None = None

    @nn.compact
    def __call__(self, encoder_out: BertOutput, deterministic: bool = True):
        scores = _dropout_then_dense(self, sentence_vector(self, encoder_out), 1, "classifier", deterministic)
        return {"logits": scores.reshape(-1, self.num_choices)}


class SpanHead(nn.Module):
    """HF ``qa_outputs``: start and end logits [batch, seq] for extractive QA."""

    config: BertConfig

    @nn.compact
    def __call__(self, encoder_out: BertOutput, deterministic: bool = True):
        logits = dense(self.config, 2, ("embed", None), "qa_outputs")(encoder_out.sequence_output)
        return {"start_logits": logits[..., 0], "end_logits": logits[..., 1]}


class TokenTaggingHead(nn.Module):
    """Dropout → dense on every token: logits [batch, seq, num_labels] (NER)."""

    config: BertConfig
    num_labels: int
    dropout_rate: float | None = None

    @nn.compact
    def __call__(self, encoder_out: BertOutput, deterministic: bool = True):
        x = encoder_out.sequence_output
        return {"logits": _dropout_then_dense(self, x, self.num_labels, "classifier", deterministic)}


class BertWithHead(nn.Module):
    """Encoder + one head. ``head`` is an unbound head module; extra keyword arguments of the call
    (e.g. ``masked_positions``) go to the head. Multiple-choice inputs [batch, choices, seq] are
    flattened to [batch·choices, seq] before the encoder.
    """

    config: BertConfig
    head: nn.Module

    @nn.compact
    def __call__(self, input_ids, token_type_ids=None, attention_mask=None, position_ids=None,
                 segment_ids=None, cls_positions=None, deterministic: bool = True,
                 **head_kwargs: Any) -> dict[str, jax.Array]:
        seq_len = input_ids.shape[-1]

        def flat(a):
            return None if a is None else a.reshape(-1, seq_len)

        encoder_out = BertModel(self.config, name="bert")(
            flat(input_ids), flat(token_type_ids), flat(attention_mask), flat(position_ids), flat(segment_ids),
            cls_positions, deterministic=deterministic,
        )
        return self.head(encoder_out, deterministic=deterministic, **head_kwargs)

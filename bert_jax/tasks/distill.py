"""Knowledge distillation, DistilBERT's recipe (Sanh et al. 2019): a student of every other teacher layer learns
MLM from the teacher's soft targets, the true tokens and the direction of the teacher's hidden states.

The teacher (an HF directory, a Google TF1 checkpoint or a bert_jax workdir, with its MLM head) runs in the
same jitted step, forward only: its params live in the train state under ``head/teacher_*`` (checkpointed with
the run: a resume restores them from there, though the teacher directory is read again at start for its config,
tokenizer and MLM head), the optimizer leaves them alone (``frozen_subtrees``) and its outputs are behind
stop_gradient. Loss = alpha_ce · KL(teacher ‖ student) at temperature T (× T², at the masked
positions) + alpha_mlm · MLM + alpha_cos · (1 − cos(student, teacher last hidden states)) over real tokens;
DistilBERT's weights 5 / 2 / 1 and T = 2 by default. The data is pretraining's, MLM only (FULL-SENTENCES rows),
tokenized by the teacher's tokenizer.
"""

from __future__ import annotations

import logging

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from bert_jax import flops, pretrained
from bert_jax.config_base import model_overrides
from bert_jax.convert import stack_layers, unstack_layers
from bert_jax.data.packing import PACKING_KEYS
from bert_jax.data.tokenizer import load_tokenizer
from bert_jax.models.bert import BertConfig, BertModel, BertOutput
from bert_jax.models.heads import MaskedLMHead
from bert_jax.tasks.base import register
from bert_jax.tasks.pretrain import PretrainTask, masked_lm_loss, pretraining_inputs
from bert_jax.tasks.pretrain_eval import MaskedLmScores

log = logging.getLogger(__name__)


class DistillationHeads(nn.Module):
    """The student's MLM head beside the whole teacher (encoder without pooler + MLM head, deterministic).
    Returns student and teacher MLM logits [batch, n, vocab] and last hidden states [batch, seq, hidden]."""

    config: BertConfig  # the student's
    teacher_config: BertConfig

    @nn.compact
    def __call__(self, encoder_out: BertOutput, masked_positions, teacher_inputs: dict, deterministic: bool = True):
        student = MaskedLMHead(self.config, name="predictions")(encoder_out, masked_positions)
        teacher_out = BertModel(self.teacher_config, add_pooling_layer=False, name="teacher_bert")(
            **teacher_inputs, deterministic=True)
        teacher = MaskedLMHead(self.teacher_config, name="teacher_predictions")(teacher_out, masked_positions)
        return {"mlm_logits": student, "hidden": encoder_out.sequence_output,
                "teacher_mlm_logits": jax.lax.stop_gradient(teacher),
                "teacher_hidden": jax.lax.stop_gradient(teacher_out.sequence_output)}


def distillation_loss(outputs: dict, batch: dict, temperature: float, alpha_ce: float, alpha_mlm: float,
                      alpha_cos: float):
    """DistilBERT's loss (see the module docstring) and its parts."""
    weights = batch["masked_lm_weights"]
    student = outputs["mlm_logits"].astype(jnp.float32) / temperature
    teacher = outputs["teacher_mlm_logits"].astype(jnp.float32) / temperature
    teacher_logp = jax.nn.log_softmax(teacher, -1)
    kl = jnp.sum(jnp.exp(teacher_logp) * (teacher_logp - jax.nn.log_softmax(student, -1)), -1)
    ce_loss = jnp.sum(kl * weights) / (jnp.sum(weights) + 1e-5) * temperature**2
    mlm_loss, mlm_acc = masked_lm_loss(outputs["mlm_logits"], batch)
    s, t = outputs["hidden"].astype(jnp.float32), outputs["teacher_hidden"].astype(jnp.float32)
    cos = jnp.sum(s * t, -1) / (jnp.linalg.norm(s, axis=-1) * jnp.linalg.norm(t, axis=-1) + 1e-8)
    real = batch["attention_mask"].astype(jnp.float32)
    cos_loss = jnp.sum((1.0 - cos) * real) / jnp.sum(real)
    loss = alpha_ce * ce_loss + alpha_mlm * mlm_loss + alpha_cos * cos_loss
    return loss, {"ce_loss": ce_loss, "mlm_loss": mlm_loss, "cos_loss": cos_loss, "mlm_accuracy": mlm_acc}


@register("distill")
class DistillTask(PretrainTask):
    frozen_subtrees = (("head", "teacher_bert"), ("head", "teacher_predictions"))

    def __init__(self, config, workdir: str):
        if not config.distill.teacher:
            raise ValueError("config.distill.teacher is empty: give the teacher (an HF directory, a TF checkpoint "
                             "directory or a bert_jax workdir, with its MLM head)")
        self.teacher = pretrained.resolve(config.distill.teacher)
        self.teacher_config = self.teacher.model_config(**_compute_switches(config))
        if self.teacher_config.share_layers:
            raise ValueError(f"config.distill.teacher={config.distill.teacher} shares one layer across all (ALBERT): "
                             "a student of every other layer would be the same layer; distil from an unshared model")
        if config.data.sentence_task != "none":
            raise ValueError(f"config.data.sentence_task={config.data.sentence_task!r}: distillation trains MLM "
                             "only (DistilBERT dropped NSP); set it to 'none'")
        config = _with_teacher_vocab(config, self.teacher)
        # Read now, before data preparation or the run writes anything: a teacher without an MLM head fails here.
        self._teacher_params = self.teacher.load_params(with_head=True, mlm_only=True)
        if "predictions" not in self._teacher_params.get("head", {}):
            raise ValueError(f"config.distill.teacher={self.teacher.path} has no MLM head (predictions): "
                             "distillation needs the teacher's MLM logits")
        super().__init__(config, workdir)

    def _model_config(self) -> BertConfig:
        """The student: the teacher with ``student_layers`` (default half) of its layers; DistilBERT's
        architecture (no token types, no pooler) with ``student_type='distilbert'`` (what 'auto' means for a
        BERT teacher; a RoBERTa teacher's student stays RoBERTa, as distilroberta-base)."""
        distill, teacher = self.config.distill, self.teacher_config
        layers = distill.student_layers or teacher.num_hidden_layers // 2
        if layers <= 0 or teacher.num_hidden_layers % layers:
            raise ValueError(f"config.distill.student_layers={layers} must divide the teacher's "
                             f"{teacher.num_hidden_layers} layers (the student takes every "
                             f"{max(1, teacher.num_hidden_layers // max(layers, 1))}th)")
        overrides = model_overrides(self.config)
        if "num_hidden_layers" in overrides:
            raise ValueError("config.model.num_hidden_layers is the teacher's; give the student's as "
                             "config.distill.student_layers")
        student = teacher.replace(num_hidden_layers=layers, **overrides)
        kind = distill.student_type
        if kind == "auto":
            kind = "distilbert" if teacher.model_type == "bert" else "teacher"
        if kind == "distilbert":
            if teacher.model_type != "bert":
                raise ValueError(f"config.distill.student_type='distilbert' needs a BERT teacher (DistilBERT is BERT "
                                 f"without token types and pooler); this teacher is {teacher.model_type}: use "
                                 "'teacher' or 'auto'")
            student = student.replace(model_type="distilbert", type_vocab_size=0, use_pooler=False,
                                      layer_norm_eps=1e-12)
        elif kind != "teacher":
            raise ValueError(f"config.distill.student_type={distill.student_type!r}; expected 'auto', 'distilbert' "
                             "or 'teacher' (the teacher's architecture)")
        return student

    # ------------------------------------------------------------------------------ Task interface
    def head(self):
        return DistillationHeads(self.model_config, self.teacher_config)

    def inputs(self, batch):
        inputs = pretraining_inputs(batch)
        teacher = {k: batch[k] for k in ("input_ids", "token_type_ids", "attention_mask")}
        teacher.update({k: batch[k] for k in PACKING_KEYS if k in batch and k != "cls_positions"})
        return {**inputs, "teacher_inputs": teacher}

    def predict(self, outputs, batch):
        """The student's MLM predictions, and the teacher's (held-out accuracy of both in one evaluation)."""
        return {**super().predict(outputs, batch),
                "teacher_mlm_prediction": jnp.argmax(outputs["teacher_mlm_logits"].astype(jnp.float32), -1)}

    def loss(self, outputs, batch):
        d = self.config.distill
        return distillation_loss(outputs, batch, d.temperature, d.alpha_ce, d.alpha_mlm, d.alpha_cos)

    def flops_per_example(self):
        """The student's training step (3× forward) and the teacher's forward pass."""
        data = self.config.data
        student = flops.pretraining_flops_per_sequence(self.model_config, data.max_seq_length,
                                                       data.max_predictions_per_seq)
        teacher = flops.pretraining_flops_per_sequence(self.teacher_config.replace(model_type="distilbert",
                                                                                   type_vocab_size=0, use_pooler=False),
                                                       data.max_seq_length, data.max_predictions_per_seq, False)
        return student + teacher

    def evaluators(self):
        return (MaskedLmScores(self.tokenizer, None),)

    def initial_params(self, params):
        """The teacher's encoder and MLM head into ``head/teacher_*``; the student from the teacher:
        embeddings (without token types for a DistilBERT student), every ``step``-th layer, the pooler where
        both have one, the MLM head (DistilBERT's initialisation)."""
        where = f"config.distill.teacher={self.teacher.path}"
        source, self._teacher_params = self._teacher_params, None  # host copy no longer needed
        teacher_bert = {k: v for k, v in source["bert"].items() if k != "pooler"}
        teacher_bert = pretrained._layers_like(teacher_bert, params["head"]["teacher_bert"])
        head = dict(params["head"])
        head["teacher_bert"] = pretrained.place_like(teacher_bert, params["head"]["teacher_bert"], where)
        head["teacher_predictions"] = pretrained.place_like(source["head"]["predictions"],
                                                            params["head"]["teacher_predictions"], where)
        head["predictions"] = pretrained.place_like(source["head"]["predictions"], params["head"]["predictions"],
                                                    f"{where} (the student's MLM head)")
        student = self._student_from(unstack_layers(jax.tree_util.tree_map(np.asarray, source["bert"])),
                                     params["bert"])
        log.info("distillation: teacher %s (%d layers) loaded; student of its layers %s", self.teacher.path,
                 self.teacher_config.num_hidden_layers, self._student_layers())
        return {**params, "bert": pretrained.place_like(student, params["bert"], f"{where} (student)"),
                "head": head}

    def _student_layers(self) -> list[int]:
        step = self.teacher_config.num_hidden_layers // self.model_config.num_hidden_layers
        return [i * step for i in range(self.model_config.num_hidden_layers)]

    def _student_from(self, teacher: dict, template: dict) -> dict:
        embeddings = {k: v for k, v in teacher["embeddings"].items() if k in template["embeddings"]}
        layers = self._student_layers()
        encoder = {f"layer_{i}": teacher["encoder"][f"layer_{t}"] for i, t in enumerate(layers)}
        student = {"embeddings": embeddings, "encoder": encoder}
        if "pooler" in template:
            student["pooler"] = teacher.get("pooler", jax.tree_util.tree_map(np.asarray, template["pooler"]))
        if "layer" in template["encoder"]:  # nn.scan: stacked
            student = stack_layers(student, len(layers))
        return student


def _compute_switches(config) -> dict:
    """The compute switches of config.model (dtype, attention implementation, ...) for the teacher; the
    student's size comes from the teacher, its dropout from config.model."""
    keep = ("dtype", "param_dtype", "attention_implementation", "remat_policy", "scan_layers",
            "one_hot_word_embeddings")
    return {k: v for k, v in model_overrides(config).items() if k in keep}


def _with_teacher_vocab(config, teacher: pretrained.Pretrained):
    """config with data.vocab = the teacher's tokenizer (and its lowercasing); a different vocab given in
    config.data.vocab is an error: the student must read the teacher's token ids."""
    if not teacher.has_tokenizer:
        raise ValueError(f"config.distill.teacher={teacher.path} has no tokenizer files; the student reads the "
                         "teacher's token ids, so the teacher directory must hold its vocab")
    teacher_tokenizer = teacher.tokenizer()
    if config.data.vocab:
        given = load_tokenizer(config.data.vocab, lowercase=config.data.lowercase)
        theirs = [teacher_tokenizer.id_to_token(i) for i in range(teacher_tokenizer.vocab_size)]
        ours = [given.id_to_token(i) for i in range(given.vocab_size)]
        if ours != theirs:
            first = next((i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b), min(len(ours),
                                                                                                      len(theirs)))
            raise ValueError(f"config.data.vocab={config.data.vocab} ({len(ours)} tokens) differs from the teacher's "
                             f"vocab ({len(theirs)} tokens; first difference at id {first}): the student must read "
                             "the teacher's token ids")
    config = config.copy_and_resolve_references()
    with config.unlocked():
        config.data.vocab = teacher.model_dir
        config.data.lowercase = getattr(teacher_tokenizer, "lowercase", config.data.lowercase)
    return config

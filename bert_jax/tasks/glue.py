"""GLUE: one task, a table of subtasks (data/glue_data.py). Sources: a local glue_data folder (the released
TSV files), TFDS ``glue/<name>`` or Hugging Face datasets (nyu-mll/glue). Evaluators (tasks/glue_eval.py): dev
metrics as the leaderboard names them, dev predictions, test predictions in the leaderboard's submission
format (predictions/glue/<Task>.tsv with index and label string; AX from MNLI).
"""

from __future__ import annotations

import logging

import jax.numpy as jnp

from bert_jax.data import glue_data
from bert_jax.data.glue_data import SUBTASKS, Examples, subtask_name
from bert_jax.data.loaders import Features, token_features
from bert_jax.data.packing import PACKING_KEYS
from bert_jax.models.heads import SequenceClassificationHead
from bert_jax.tasks.base import register
from bert_jax.tasks.finetune import FinetuneTask
from bert_jax.tasks.glue_eval import DevPredictionFile, GlueScores, SubmissionFiles
from bert_jax.tasks.losses import cross_entropy_with_integer_labels

log = logging.getLogger(__name__)


def classification_inputs(batch: dict) -> dict:
    """The model's inputs; packed training batches (data.pack_per_row > 1) add position/segment ids and
    [CLS] positions."""
    names = ("input_ids", "token_type_ids", "attention_mask") + PACKING_KEYS
    return {k: batch[k] for k in names if k in batch}


def classification_loss(outputs: dict, batch: dict, regression: bool = False):
    """Mean over the batch's examples: logits [batch, labels] unpacked, [rows, k, labels] packed, with
    ``label_weights`` (0 = an empty [CLS] slot) when present. Regression is HF's num_labels=1: squared error."""
    logits = outputs["logits"].astype(jnp.float32)
    weights = batch.get("label_weights", jnp.ones(batch["labels"].shape, jnp.float32))
    count = jnp.sum(weights)
    if regression:
        return jnp.sum((logits[..., 0] - batch["labels"]) ** 2 * weights) / count, {}
    per_example = cross_entropy_with_integer_labels(logits, batch["labels"])
    correct = jnp.argmax(logits, -1) == batch["labels"]
    return jnp.sum(per_example * weights) / count, {"accuracy": jnp.sum(correct * weights) / count}


@register("glue")
class GlueTask(FinetuneTask):
    def __init__(self, config, workdir: str):
        self.subtask = subtask_name(config.task.subtask)
        self.sub = SUBTASKS[self.subtask]
        super().__init__(config, workdir)
        self.eval_splits = self.sub.dev
        self.selection_metric = "score"
        self._examples: dict[str, Examples] = {}

    # ------------------------------------------------------------------------------------ data
    def examples(self, split: str) -> Examples:
        if split not in self._examples:
            out = glue_data.read_split(self.subtask, self.sub, split, self.config.data)
            if split == "train":
                keep = self.limit(len(out.texts))
                out = Examples([out.texts[i] for i in keep], out.labels[keep], [out.index[i] for i in keep])
            self._examples[split] = out
            log.info("%s %s: %d examples", self.subtask, split, len(out.texts))
        return self._examples[split]

    def featurize(self, split: str) -> Features:
        ex = self.examples(split)
        firsts = [t[0] for t in ex.texts]
        seconds = [t[1] for t in ex.texts] if len(self.sub.text_columns) == 2 else None
        return token_features(self.tokenizer.encode_many(firsts, seconds, self.max_length), self.tokenizer.pad_id,
                              {"labels": ex.labels})

    def test_splits(self) -> tuple[str, ...]:
        if not self.config.task.predict_test:
            return ()
        return tuple(s for s, _ in self.sub.test if glue_data.has_split(self.subtask, self.sub, s, self.config.data))

    # ------------------------------------------------------------------------------- model side
    @property
    def regression(self) -> bool:
        return self.sub.labels is None

    packable = True

    def head(self):
        return SequenceClassificationHead(self.model_config, 1 if self.regression else len(self.sub.labels))

    def inputs(self, batch):
        return classification_inputs(batch)

    def loss(self, outputs, batch):
        return classification_loss(outputs, batch, self.regression)

    def predict(self, outputs, batch):
        logits = outputs["logits"].astype(jnp.float32)
        prediction = logits[:, 0] if self.regression else jnp.argmax(logits, -1)
        return {"prediction": prediction, "logits": logits, "example_index": batch["example_index"]}

    # ------------------------------------------------------------------------------- host side
    def evaluators(self):
        return (GlueScores(self), DevPredictionFile(self), SubmissionFiles(self))

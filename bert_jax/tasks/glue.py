"""GLUE: one task, a table of subtasks (data/glue_data.py). Sources: a local glue_data folder (the released
TSV files), TFDS ``glue/<name>`` or Hugging Face datasets (nyu-mll/glue). Dev metrics as the leaderboard
names them; test predictions in the leaderboard's submission format (predictions/glue/<Task>.tsv with index
and label string; AX from MNLI).
"""

from __future__ import annotations

import logging
import os

import jax.numpy as jnp
import numpy as np

from bert_jax import metrics
from bert_jax.data import glue_data
from bert_jax.data.glue_data import SUBTASKS, Examples, subtask_name
from bert_jax.data.loaders import Features
from bert_jax.data.packing import PACKING_KEYS
from bert_jax.io_utils import write_text
from bert_jax.models.heads import SequenceClassificationHead
from bert_jax.tasks.base import register
from bert_jax.tasks.finetune import FinetuneTask, in_order
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
        enc = self.tokenizer.encode_batch(firsts, seconds, max_length=self.max_length, truncation=True,
                                          padding="max_length")
        arrays = {k: enc[k] for k in ("input_ids", "token_type_ids", "attention_mask")}
        arrays["labels"] = ex.labels
        return Features(arrays, enc["attention_mask"].sum(-1))

    def test_splits(self) -> tuple[str, ...]:
        if not self.config.data.predict_test:
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
    def evaluate(self, predictions, split):
        ordered = in_order(predictions)  # every example, or the first config.eval_batches batches' worth
        p, gold = ordered["prediction"], self.examples(split).labels[ordered["example_index"]]
        values = {}
        for name in self.sub.metrics:
            if name == "accuracy":
                values[name] = metrics.accuracy(p, gold)
            elif name == "f1":
                values[name] = metrics.f1_binary(p, gold)
            elif name == "matthews_correlation":
                values[name] = metrics.matthews_corrcoef(p, gold)
            elif name == "pearson":
                values[name] = metrics.pearson(p, gold)
            elif name == "spearmanr":
                values[name] = metrics.spearman(p, gold)
        # The leaderboard's per-task score: the mean of its metrics (MRPC F1/acc, STS-B Pearson/Spearman).
        values["score"] = float(np.mean(list(values.values())))
        if split == "dev_mismatched":  # MNLI: HF's names, both in one results file
            return {f"{k}_mm": v for k, v in values.items()}
        return values

    def combine(self, results: dict) -> dict:
        """MNLI: the score is the mean of matched and mismatched accuracy, as the GLUE average counts it."""
        if "score_mm" in results:
            results = dict(results, score=(results["score"] + results.pop("score_mm")) / 2)
        return results

    def label_string(self, prediction) -> str:
        if self.regression:
            return f"{min(5.0, max(0.0, float(prediction))):.3f}"  # the leaderboard takes scores in [0, 5]
        return self.sub.labels[int(prediction)]

    def write_predictions(self, predictions, split):
        ordered = in_order(predictions)
        p, ex = ordered["prediction"], self.examples(split)
        ex = Examples([ex.texts[i] for i in ordered["example_index"]], ex.labels[ordered["example_index"]],
                      [ex.index[i] for i in ordered["example_index"]])
        if split in dict(self.sub.test):
            files = self.sub.submission or (f"{self.sub.folder}.tsv",)
            names = dict(zip((s for s, _ in self.sub.test), files, strict=True))
            path = os.path.join(self.predictions_dir(), "glue", names[split])
            os.makedirs(os.path.dirname(path), exist_ok=True)
            rows = [f"{i}\t{self.label_string(v)}" for i, v in zip(ex.index, p, strict=True)]
            write_text(path, "index\tprediction\n" + "\n".join(rows) + "\n")
        else:
            rows = [f"{i}\t{self.label_string(v)}\t{self.label_string(g)}"
                    for i, v, g in zip(ex.index, p, ex.labels, strict=True)]
            write_text(os.path.join(self.predictions_dir(), f"{split}.tsv"),
                       "index\tprediction\tlabel\n" + "\n".join(rows) + "\n")

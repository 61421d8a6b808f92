"""SWAG's evaluators: accuracy, and a CSV of each example's predicted ending and every choice's score."""

from __future__ import annotations

import os

import numpy as np

from bert_jax import metrics
from bert_jax.data.readers import SWAG_CHOICES
from bert_jax.evaluation import Evaluator
from bert_jax.io_utils import write_text


class SwagAccuracy(Evaluator):
    def __init__(self, task):
        self.task, self.splits = task, task.eval_splits

    def run(self, predictions, split):
        gold = np.array([e.label for e in self.task.examples(split)])[predictions["example_index"]]
        return {"accuracy": metrics.accuracy(predictions["prediction"], gold)}, []


class ChoicesFile(Evaluator):
    """predictions/<split>.csv: id, predicted ending, score of each choice."""

    final = True

    def __init__(self, task, splits: tuple[str, ...]):
        self.task, self.splits = task, splits

    def run(self, predictions, split):
        lines = ["id,prediction," + ",".join(f"score{i}" for i in range(SWAG_CHOICES))]
        examples = self.task.examples(split)
        for i, p, scores in zip(predictions["example_index"], predictions["prediction"], predictions["logits"],
                                strict=True):
            lines.append(f"{examples[i].example_id},{int(p)}," + ",".join(f"{s:.6f}" for s in scores))
        path = os.path.join(self.task.predictions_dir(), f"{split}.csv")
        write_text(path, "\n".join(lines) + "\n")
        return {}, [path]

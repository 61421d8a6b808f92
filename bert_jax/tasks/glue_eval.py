"""GLUE's evaluators: dev scores as the leaderboard names them, dev prediction files, and the test
submission files (predictions/glue/<Task>.tsv: index and label string, as the leaderboard takes them)."""

from __future__ import annotations

import os

import numpy as np

from bert_jax import metrics
from bert_jax.evaluation import Evaluator
from bert_jax.io_utils import write_text

METRICS = {"accuracy": metrics.accuracy, "f1": metrics.f1_binary, "matthews_correlation": metrics.matthews_corrcoef,
           "pearson": metrics.pearson, "spearmanr": metrics.spearman}


def label_string(sub, prediction) -> str:
    """A prediction as the leaderboard writes it: the label name, or a score clipped to [0, 5] (STS-B)."""
    if sub.labels is None:
        return f"{min(5.0, max(0.0, float(prediction))):.3f}"
    return sub.labels[int(prediction)]


class GlueScores(Evaluator):
    """The subtask's metrics on each dev split and its leaderboard score, the mean of its metrics (MRPC
    F1/acc, STS-B Pearson/Spearman). Every example, or the first config.eval_batches batches' worth."""

    def __init__(self, task):
        self.task, self.splits = task, task.eval_splits

    def run(self, predictions, split):
        sub = self.task.sub
        p, gold = predictions["prediction"], self.task.examples(split).labels[predictions["example_index"]]
        values = {name: METRICS[name](p, gold) for name in sub.metrics}
        values["score"] = float(np.mean(list(values.values())))
        if split == "dev_mismatched":  # MNLI: HF's names, both in one results file
            return {f"{k}_mm": v for k, v in values.items()}, []
        return values, []

    def combine(self, results: dict) -> dict:
        """MNLI: the score is the mean of matched and mismatched accuracy, as the GLUE average counts it."""
        if "score_mm" in results:
            results = dict(results, score=(results["score"] + results.pop("score_mm")) / 2)
        return results


class DevPredictionFile(Evaluator):
    """predictions/<split>.tsv of each dev split: index, prediction and gold label."""

    final = True

    def __init__(self, task):
        self.task, self.splits = task, task.eval_splits

    def run(self, predictions, split):
        ex, sub = self.task.examples(split), self.task.sub
        rows = [f"{ex.index[i]}\t{label_string(sub, v)}\t{label_string(sub, ex.labels[i])}"
                for i, v in zip(predictions["example_index"], predictions["prediction"], strict=True)]
        path = os.path.join(self.task.predictions_dir(), f"{split}.tsv")
        write_text(path, "index\tprediction\tlabel\n" + "\n".join(rows) + "\n")
        return {}, [path]


class SubmissionFiles(Evaluator):
    """The leaderboard's files of the test splits that exist: predictions/glue/<Task>.tsv (MNLI: MNLI-m,
    MNLI-mm and AX)."""

    final = True

    def __init__(self, task):
        self.task, self.splits = task, task.test_splits()

    def run(self, predictions, split):
        sub = self.task.sub
        files = sub.submission or (f"{sub.folder}.tsv",)
        names = dict(zip((s for s, _ in sub.test), files, strict=True))
        path = os.path.join(self.task.predictions_dir(), "glue", names[split])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        index = self.task.examples(split).index
        rows = [f"{index[i]}\t{label_string(sub, v)}"
                for i, v in zip(predictions["example_index"], predictions["prediction"], strict=True)]
        write_text(path, "index\tprediction\n" + "\n".join(rows) + "\n")
        return {}, [path]

"""SQuAD's evaluators, reading the answers of a prediction pass (SquadTask.postprocess): the official
EM/F1 at the null threshold, v2.0's search of the best null threshold (evaluate-v2.0's best_*), and the
prediction files (predictions/<split>/predictions.json, nbest_predictions.json, v2.0 null_odds.json)."""

from __future__ import annotations

import math
import os

from bert_jax import metrics
from bert_jax.evaluation import Evaluator
from bert_jax.io_utils import write_json
from bert_jax.tasks.squad_answers import Answers


def threshold_search(task, answers: Answers, split: str) -> dict:
    """evaluate-v2.0's best_exact / best_f1 and their thresholds, searched over the best non-null answers
    (so any threshold can be found, not only those above the one the predictions were cut at)."""
    gold = task.gold(split, answers.text)
    exact, f1 = metrics.squad_scores(answers.text, gold)
    best_exact, exact_thresh = metrics.best_null_threshold(exact, answers.null_odds, gold, answers.text)
    best_f1, f1_thresh = metrics.best_null_threshold(f1, answers.null_odds, gold, answers.text)
    return {"best_exact": best_exact, "best_exact_thresh": exact_thresh, "best_f1": best_f1,
            "best_f1_thresh": f1_thresh}


def null_threshold(task, answers: Answers, split: str) -> float | None:
    """The null threshold applied to the predictions (v2.0): task.null_score_diff_threshold, or with
    ``task.use_best_threshold`` the best-F1 threshold searched on this split."""
    if not task.version_2:
        return None
    if task.config.task.use_best_threshold:
        return threshold_search(task, answers, split)["best_f1_thresh"]
    return float(task.config.task.null_score_diff_threshold)


class SquadScores(Evaluator):
    """exact, f1 (v2.0: HasAns_/NoAns_ breakdown and the threshold applied) as evaluate-v1.1/v2.0 compute them."""

    splits = ("dev",)

    def __init__(self, task):
        self.task = task

    def run(self, answers, split):
        threshold = null_threshold(self.task, answers, split)
        out = metrics.squad_evaluate(answers.predictions(threshold), self.task.gold(split, answers.text))
        if self.task.version_2:
            out["null_score_diff_threshold"] = threshold
        return out, []


class NullThresholdSearch(Evaluator):
    """v2.0: the threshold that would have been best on the split (best_exact/best_f1 and their thresholds)."""

    splits = ("dev",)

    def __init__(self, task):
        self.task = task

    def run(self, answers, split):
        return threshold_search(self.task, answers, split), []


class PredictionFiles(Evaluator):
    """predictions/<split>/: predictions.json (qid → text), nbest_predictions.json and, for v2.0,
    null_odds.json (evaluate-v2.0.py --na-prob-file)."""

    splits = ("dev",)
    final = True

    def __init__(self, task):
        self.task = task

    def run(self, answers, split):
        directory = os.path.join(self.task.predictions_dir(), split)
        os.makedirs(directory, exist_ok=True)
        files = {"predictions.json": answers.predictions(null_threshold(self.task, answers, split)),
                 "nbest_predictions.json": answers.nbest}
        if self.task.version_2:
            # +inf (no non-null span) as a large finite number: strict JSON readers reject Infinity.
            files["null_odds.json"] = {q: (v if math.isfinite(v) else 1e30) for q, v in answers.null_odds.items()}
        for name, value in files.items():
            write_json(os.path.join(directory, name), value)
        return {}, [os.path.join(directory, name) for name in files]

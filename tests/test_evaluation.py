"""evaluation.evaluate: each split predicted once per evaluation, postprocessed once, read by its evaluators;
final evaluators (files) only in the final evaluation; a split only they read is predicted whole."""

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from bert_jax.evaluation import Evaluator, evaluate, splits_read


class Recorder(Evaluator):
    def __init__(self, name, splits, final=False):
        self.name, self.splits, self.final, self.calls = name, splits, final, []

    def run(self, predictions, split):
        self.calls.append((split, len(predictions["x"])))
        if self.final:  # a file writer: no metrics
            return {}, [f"{split}.txt"]
        return {f"{self.name}_{split}": float(np.sum(predictions["x"]))}, []


class SumOfSplits(Recorder):
    def combine(self, results):
        return dict(results, total=sum(v for k, v in results.items() if k.startswith(self.name)))


class Task:
    def __init__(self):
        self.postprocessed = []

    def postprocess(self, predictions, split):
        self.postprocessed.append(split)
        return predictions


def test_splits_are_predicted_once_and_final_evaluators_run_only_at_the_end():
    # Batches of 2 rows: dev has 3 batches, test 2; x = 1 on dev, 10 on test.
    datasets = {"dev": [{"x": np.ones(2, np.float32)}] * 3, "test": [{"x": np.full(2, 10, np.float32)}] * 2}
    sharding = NamedSharding(Mesh(np.array(jax.devices()[:1]), ("data",)), PartitionSpec("data"))
    batches_run = []

    def eval_fn(params, batch):
        batches_run.append(1)
        return {"x": batch["x"] * params}

    scores, again = SumOfSplits("score", ("dev",)), Recorder("again", ("dev",))
    files = Recorder("file", ("dev", "test"), final=True)
    evaluators = (scores, again, files)
    assert splits_read(evaluators, final=False) == ("dev",) and splits_read(evaluators, final=True) == ("dev", "test")

    task = Task()
    results = evaluate(task, evaluators, datasets, 2.0, eval_fn, sharding, max_batches=2)
    # dev once (2 of its 3 batches, max_batches), read by both scorers; the file evaluator and test untouched.
    assert len(batches_run) == 2 and task.postprocessed == ["dev"]
    assert results == {"score_dev": 8.0, "again_dev": 8.0, "total": 8.0}
    assert scores.calls == again.calls == [("dev", 4)] and files.calls == []

    batches_run.clear()
    results = evaluate(task, evaluators, datasets, 2.0, eval_fn, sharding, max_batches=2, final=True)
    # dev again at max_batches (it is scored); test whole (only a final evaluator reads it).
    assert len(batches_run) == 2 + 2 and task.postprocessed == ["dev", "dev", "test"]
    assert files.calls == [("dev", 4), ("test", 4)]
    assert results == {"score_dev": 8.0, "again_dev": 8.0, "total": 8.0}  # files add no metrics

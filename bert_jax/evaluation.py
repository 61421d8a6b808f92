"""After jit: the predict/gather loop over a split, then the task's evaluators (big_vision style).

Every host runs the jitted eval step on its rows of each batch; predictions are gathered to every host
(in the global row order) and joined over batches; the task's ``postprocess`` turns them into what its
evaluators read (examples in order, SQuAD's answers, NER's word tags), once per split and pass; each
evaluator reading the split returns (metrics, files written). A second evaluation of a task (a threshold
search, a submission file) is one more evaluator, not an edit of the task.
"""

from __future__ import annotations

import abc
import logging

import jax
import numpy as np
from jax.experimental import multihost_utils

from bert_jax.data.global_batches import to_global

log = logging.getLogger(__name__)


class Evaluator(abc.ABC):
    """Host side, after predictions: ``run(predictions, split) -> (metrics, files written)``, where
    predictions are the task's ``postprocess`` of the split's predictions.

    ``splits``: the splits it reads. ``final``: it runs only in the final evaluation of a run, on process 0
    (evaluators that write files); the others run at every evaluation on every process (their metrics pick
    the best checkpoint). ``combine(results)`` may merge the results of all splits (MNLI's two dev sets).
    """

    splits: tuple[str, ...] = ()
    final: bool = False

    @abc.abstractmethod
    def run(self, predictions, split: str) -> tuple[dict, list[str]]: ...

    def combine(self, results: dict) -> dict:
        return results


def splits_read(evaluators, final: bool) -> tuple[str, ...]:
    """The splits the evaluators of an evaluation read (every evaluation, or with ``final`` the last one)."""
    active = [e for e in evaluators if final or not e.final]
    return tuple(dict.fromkeys(split for e in active for split in e.splits))


def concat_batches(parts: list[np.ndarray]) -> np.ndarray:
    """Batches of per-token predictions may differ in length (batch widths vary): pad to the widest."""
    width = max(p.shape[1] for p in parts) if parts[0].ndim > 1 else None
    if width is not None and any(p.shape[1] != width for p in parts):
        fill = -1 if np.issubdtype(parts[0].dtype, np.integer) else np.nan
        parts = [np.pad(p, [(0, 0), (0, width - p.shape[1])] + [(0, 0)] * (p.ndim - 2), constant_values=fill)
                 for p in parts]
    return np.concatenate(parts)


def gather_to_hosts(tree) -> dict:
    """Global arrays → numpy on every host. With several processes each holds only its rows, so they are
    all-gathered (in process order, which is the global row order of ``to_global``)."""
    if jax.process_count() == 1:
        return jax.device_get(tree)
    return multihost_utils.process_allgather(tree, tiled=True)


def predict(dataset, params, eval_fn, data_sharding, max_batches: int = 0) -> dict[str, np.ndarray]:
    """Runs eval_fn over a split (or its first max_batches batches); predictions gathered on the host."""
    n = len(dataset) if max_batches <= 0 else min(len(dataset), max_batches)
    if n == 0:
        raise ValueError("the eval split has fewer examples than one eval batch (config.eval_batch_size)")
    gathered: dict[str, list] = {}
    for i in range(n):
        predictions = gather_to_hosts(eval_fn(params, to_global(dataset[i], data_sharding)))
        for k, v in predictions.items():
            gathered.setdefault(k, []).append(np.asarray(v))
    return {k: concat_batches(v) for k, v in gathered.items()}


def run_evaluators(task, evaluators, predictions: dict[str, np.ndarray], split: str) -> tuple[dict, list[str]]:
    """The task's postprocess of one split's predictions, read by each evaluator of that split."""
    processed = task.postprocess(predictions, split)
    results, files = {}, []
    for evaluator in evaluators:
        metrics, written = evaluator.run(processed, split)
        results.update(metrics)
        files += written
    return results, files


def evaluate(task, evaluators, datasets: dict, params, eval_fn, data_sharding, max_batches: int,
             final: bool = False) -> dict:
    """One evaluation: every split the evaluators read is predicted once (the first ``max_batches`` batches
    of a scored split; a split only final evaluators read is predicted whole), then its evaluators run. With
    ``final`` the final evaluators run too (process 0 writes their files)."""
    active = [e for e in evaluators if final or not e.final]
    results = {}
    for split in splits_read(evaluators, final):
        readers = [e for e in active if split in e.splits]
        scored = any(not e.final for e in readers)
        predictions = predict(datasets[split], params, eval_fn, data_sharding, max_batches if scored else 0)
        here = [e for e in readers if not e.final or jax.process_index() == 0]
        if here:
            metrics, files = run_evaluators(task, here, predictions, split)
            results.update(metrics)
            for path in files:
                log.info("%s: wrote %s", split, path)
    for evaluator in active:
        results = evaluator.combine(results)
    return results

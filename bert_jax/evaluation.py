"""After jit: the predict/gather loop over an eval split and the task's evaluation of the predictions.

Every host runs the jitted eval step on its rows of each batch; predictions are gathered to every host
(in the global row order) and joined over batches; the task scores them (process 0 writes its files).
"""

from __future__ import annotations

import jax
import numpy as np
from jax.experimental import multihost_utils

from bert_jax.data.global_batches import to_global


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


def evaluate(task, eval_sets: dict, params, eval_fn, data_sharding, max_batches: int,
             write_predictions: bool = False) -> dict:
    """task.evaluate over every eval split, merged (MNLI: matched and mismatched); with
    ``write_predictions`` the task also writes its prediction files."""
    results = {}
    for split, dataset in eval_sets.items():
        predictions = predict(dataset, params, eval_fn, data_sharding, max_batches)
        results.update(task.evaluate(predictions, split))
        if write_predictions and jax.process_index() == 0:
            task.write_predictions(predictions, split)
    return task.combine(results)

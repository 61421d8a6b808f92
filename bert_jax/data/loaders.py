"""Index-addressed loaders of fine-tuning batches (before jit): item k of a training stream is a pure
function of (seed, k), so a resumed run needs only the step; eval batches are one pass in length order.
Rows are cut to the batch's width (``bucket_width``) or packed several examples to a row (data/packing.py).

A task names its data with a spec (``FeatureSpec`` here, ``pipeline.PairSpec`` for pretraining) and
``host_batches`` turns the spec of a split into this host's batches: tasks never see processes or loaders.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Protocol, Sequence

import jax
import numpy as np

from bert_jax.data.packing import pack_lengths, pack_rows


@dataclasses.dataclass
class Features:
    """A featurized split. ``arrays`` share the leading example axis [N, ...]; the keys in ``seq_keys``
    end in a token axis of length max_seq_length, cut per batch to the batch's width (``bucket_width``).
    ``lengths`` [N]: real tokens of each example (the longest choice for multiple choice)."""

    arrays: dict[str, np.ndarray]
    lengths: np.ndarray
    seq_keys: tuple[str, ...] = ("input_ids", "token_type_ids", "attention_mask")

    def __len__(self) -> int:
        return len(self.lengths)

    def take(self, index: np.ndarray, width: int) -> dict[str, np.ndarray]:
        return {k: (v[index, ..., :width] if k in self.seq_keys else v[index]) for k, v in self.arrays.items()}


def bucket_width(length: int, max_length: int, multiple: int) -> int:
    """Width of a batch whose longest row has ``length`` tokens: the next multiple of ``multiple``, capped at
    max_length (0 = always max_length). Multiples of 32 give ≤ 4 shapes up to 128 (so ≤ 4 compilations) and
    pad GLUE batches to ~1.2× their longest row, where powers of two padded STS-B and MRPC to ~1.5×."""
    if not multiple:
        return max_length
    return min(max_length, -(-int(length) // multiple) * multiple)


class TrainBatches:
    """Item k = global batch k of an endless stream: epoch e is a permutation of the examples drawn
    from (seed, e), epochs follow each other without dropping a remainder. Each process takes its
    contiguous slice of the global batch. Pure function of k, so resume needs only the step."""

    def __init__(self, features: Features, global_batch: int, seed: int, max_length: int, multiple: int,
                 process_index: int = 0, process_count: int = 1):
        self.features, self.global_batch, self.seed = features, global_batch, seed
        self.max_length, self.multiple = max_length, multiple
        per_host = global_batch // process_count
        self.host_slice = slice(process_index * per_host, (process_index + 1) * per_host)
        self._epoch_cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return 2**62  # endless; the trainer stops at total_steps

    def _order(self, epoch: int) -> np.ndarray:
        if epoch not in self._epoch_cache:
            self._epoch_cache = {epoch: np.random.default_rng([self.seed, epoch]).permutation(len(self.features))}
        return self._epoch_cache[epoch]

    def indices(self, k: int) -> np.ndarray:
        n = len(self.features)
        positions = np.arange(k * self.global_batch, (k + 1) * self.global_batch)
        return np.array([self._order(int(p // n))[p % n] for p in positions])

    def __getitem__(self, k: int) -> dict[str, np.ndarray]:
        index = self.indices(k)
        width = bucket_width(self.features.lengths[index].max(), self.max_length, self.multiple)
        return self.features.take(index[self.host_slice], width)


class PackedTrainBatches(TrainBatches):
    """TrainBatches' examples (global batch k = the same indices) packed up to ``max_per_row`` per row of
    ``max_length`` tokens (data/packing.py). The row count is rounded up to ``row_multiple``, so a run
    sees a few shapes, not one per batch. Per-example arrays (labels) become [rows, max_per_row] with
    ``label_weights`` 1 at filled [CLS] slots. Each process takes its contiguous slice of the rows."""

    def __init__(self, features: Features, global_batch: int, seed: int, max_length: int, max_per_row: int,
                 row_multiple: int, process_index: int = 0, process_count: int = 1):
        super().__init__(features, global_batch, seed, max_length, 0)
        self.max_per_row, self.row_multiple = max_per_row, row_multiple
        self.process_index, self.process_count = process_index, process_count

    def __getitem__(self, k: int) -> dict[str, np.ndarray]:
        index = self.indices(k)
        lengths = self.features.lengths[index]
        rows = [[int(index[j]) for j in row] for row in pack_lengths(lengths, self.max_length, self.max_per_row)]
        count = -(-len(rows) // self.row_multiple) * self.row_multiple
        arrays = self.features.arrays
        tokens = {int(i): arrays["input_ids"][i, :n] for i, n in zip(index, lengths, strict=True)}
        types = {int(i): arrays["token_type_ids"][i, :n] for i, n in zip(index, lengths, strict=True)}
        batch = pack_rows(tokens, types, rows + [[]] * (count - len(rows)), self.max_length, self.max_per_row)
        slot = batch.pop("example_index")
        filled = slot >= 0
        for name, values in arrays.items():
            if name not in self.features.seq_keys:
                batch[name] = np.where(filled, values[np.maximum(slot, 0)], 0).astype(values.dtype)
        batch["label_weights"] = filled.astype(np.float32)
        per_host = count // self.process_count
        return {name: v[self.process_index * per_host:(self.process_index + 1) * per_host] for name, v in batch.items()}


class EvalBatches:
    """One pass in length order (little padding); the last batch is filled with copies of a real row
    whose ``example_index`` is -1, so every batch has the same size and padding is never scored."""

    def __init__(self, features: Features, global_batch: int, max_length: int, multiple: int,
                 process_index: int = 0, process_count: int = 1):
        self.features, self.global_batch, self.max_length, self.multiple = features, global_batch, max_length, multiple
        self.order = np.argsort(features.lengths, kind="stable")
        per_host = global_batch // process_count
        self.host_slice = slice(process_index * per_host, (process_index + 1) * per_host)

    def __len__(self) -> int:
        return math.ceil(len(self.features) / self.global_batch)

    def __getitem__(self, k: int) -> dict[str, np.ndarray]:
        if not 0 <= k < len(self):
            raise IndexError(k)
        real = self.order[k * self.global_batch:(k + 1) * self.global_batch]
        index = np.concatenate([real, np.full(self.global_batch - len(real), real[0])])
        example_index = np.concatenate([real, np.full(self.global_batch - len(real), -1)]).astype(np.int32)
        width = bucket_width(self.features.lengths[real].max(), self.max_length, self.multiple)
        batch = self.features.take(index, width)
        batch["example_index"] = example_index
        return {k: v[self.host_slice] for k, v in batch.items()}


class DataSpec(Protocol):
    """What a task's ``data_spec(split)`` returns: something that makes a host's batches of the split."""

    def batches(self, training: bool, global_batch: int, seed: int, process_index: int,
                process_count: int) -> Sequence[dict[str, np.ndarray]]: ...


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
    """A fine-tuning split: its features and how batches are cut from them (config.data's settings)."""

    features: Features
    max_length: int
    pad_to_multiple_of: int
    pack_per_row: int = 1
    packed_row_multiple: int = 8

    def batches(self, training: bool, global_batch: int, seed: int, process_index: int, process_count: int):
        process = {"process_index": process_index, "process_count": process_count}
        if training and self.pack_per_row > 1:
            return PackedTrainBatches(self.features, global_batch, seed, self.max_length, self.pack_per_row,
                                      self.packed_row_multiple, **process)
        if training:
            return TrainBatches(self.features, global_batch, seed, self.max_length, self.pad_to_multiple_of,
                                **process)
        return EvalBatches(self.features, global_batch, self.max_length, self.pad_to_multiple_of, **process)


def host_batches(task, config, split: str) -> Sequence[dict[str, np.ndarray]]:
    """This host's batches of ``split`` of ``task`` (item k = step k; "train" is the endless shuffled
    stream of config.batch_size, any other split one pass of config.eval_batch_size)."""
    training = split == "train"
    return task.data_spec(split).batches(training, config.batch_size if training else config.eval_batch_size,
                                         config.seed, jax.process_index(), jax.process_count())

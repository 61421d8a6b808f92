"""Index-addressed loaders of fine-tuning batches (before jit): item k of a training stream is a pure
function of (seed, k), so a resumed run needs only the step; eval batches are one pass in length order.
Rows are cut to the batch's width (one of a few planned per split: data/widths.py) or packed several
examples to a row (data/packing.py).

A task names its data with a spec (``FeatureSpec`` here, ``pipeline.PairSpec`` for pretraining) and
``host_batches`` turns the spec of a split into this host's batches: tasks never see processes or loaders.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Protocol, Sequence

import jax
import numpy as np

from bert_jax.data import widths as widths_lib
from bert_jax.data.packing import pack_lengths, pack_rows


@dataclasses.dataclass(frozen=True)
class RaggedRows:
    """Token rows of different lengths stored flat, unpadded: row r is ``values[starts[r]:starts[r + 1]]``.
    ``per_example`` rows belong to each example (the choices of multiple choice), so example i owns rows
    [i·per_example, (i+1)·per_example). A batch pads them once, to its own width, with ``fill``."""

    values: np.ndarray  # [total tokens] int32
    starts: np.ndarray  # [rows + 1]
    per_example: int = 1
    fill: int = 0

    @classmethod
    def from_rows(cls, rows, per_example: int = 1, fill: int = 0) -> "RaggedRows":
        lengths = np.array([len(r) for r in rows], np.int64)
        values = np.concatenate([np.asarray(r, np.int32) for r in rows]) if rows else np.zeros(0, np.int32)
        return cls(values, np.concatenate([[0], np.cumsum(lengths)]), per_example, fill)

    def row(self, r: int) -> np.ndarray:
        return self.values[self.starts[r]:self.starts[r + 1]]

    def padded(self, index: np.ndarray, width: int) -> np.ndarray:
        """Examples ``index`` as [len(index), (per_example,) width], each row cut at ``width``."""
        rows = (np.asarray(index)[:, None] * self.per_example + np.arange(self.per_example)).ravel()
        out = np.full((len(rows), width), self.fill, np.int32)
        for j, r in enumerate(rows):
            row = self.row(int(r))[:width]
            out[j, :len(row)] = row
        return out.reshape(len(index), width) if self.per_example == 1 else out.reshape(len(index), -1, width)


@dataclasses.dataclass
class Features:
    """A featurized split. ``arrays`` share the leading example axis [N, ...]; the keys in ``seq_keys`` are
    token rows: ``RaggedRows`` (unpadded, padded once per batch to the batch's width) or
    arrays whose last axis is max_seq_length (windows made padded: SQuAD, NER), cut per batch to the width.
    ``lengths`` [N]: real tokens of each example (the longest choice for multiple choice)."""

    arrays: dict[str, np.ndarray | RaggedRows]
    lengths: np.ndarray
    seq_keys: tuple[str, ...] = ("input_ids", "token_type_ids", "attention_mask")

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def rows_per_example(self) -> int:
        ids = self.arrays["input_ids"]
        return ids.per_example if isinstance(ids, RaggedRows) else int(np.prod(ids.shape[1:-1], dtype=np.int64))

    def take(self, index: np.ndarray, width: int) -> dict[str, np.ndarray]:
        def one(k, v):
            if isinstance(v, RaggedRows):
                return v.padded(index, width)
            return v[index, ..., :width] if k in self.seq_keys else v[index]

        return {k: one(k, v) for k, v in self.arrays.items()}

    def tokens(self, name: str, i: int) -> np.ndarray:
        """The real tokens of example i (one row per example) in sequence ``name``, unpadded."""
        v = self.arrays[name]
        return v.row(i) if isinstance(v, RaggedRows) else v[i, :self.lengths[i]]


def token_features(encodings, pad_id: int, per_example_arrays: dict[str, np.ndarray],
                   per_example: int = 1) -> Features:
    """Features of tokenizer encodings (``per_example`` consecutive ones per example, e.g. SWAG's choices),
    unpadded: input_ids, token_type_ids and attention_mask as RaggedRows; ``lengths`` the longest row of each
    example."""
    ids = RaggedRows.from_rows([e.input_ids for e in encodings], per_example, fill=pad_id)
    arrays = {"input_ids": ids,
              "token_type_ids": RaggedRows.from_rows([e.token_type_ids for e in encodings], per_example),
              "attention_mask": RaggedRows.from_rows([[1] * len(e.input_ids) for e in encodings], per_example)}
    lengths = np.diff(ids.starts).reshape(-1, per_example).max(-1)
    return Features({**arrays, **per_example_arrays}, lengths)


class TrainBatches:
    """Item k = global batch k of an endless stream: epoch e is a permutation of the examples drawn
    from (seed, e), epochs follow each other without dropping a remainder. Each process takes its
    contiguous slice of the global batch. Pure function of k, so resume needs only the step. A batch is
    padded to the narrowest of ``widths`` that holds its longest row: at most ``max_widths`` multiples of
    ``multiple`` planned from the split's lengths (data/widths.py; 0 = every multiple)."""

    def __init__(self, features: Features, global_batch: int, seed: int, max_length: int, multiple: int,
                 process_index: int = 0, process_count: int = 1, max_widths: int = 0):
        self.features, self.global_batch, self.seed = features, global_batch, seed
        self.max_length = max_length
        self.widths = widths_lib.plan_shuffled(features.lengths, global_batch, max_length, multiple, max_widths) \
            if len(features) else (max_length,)
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
        width = widths_lib.fit(self.features.lengths[index].max(), self.widths)
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
        tokens = {int(i): self.features.tokens("input_ids", i) for i in index}
        types = {int(i): self.features.tokens("token_type_ids", i) for i in index}
        pad_id = arrays["input_ids"].fill if isinstance(arrays["input_ids"], RaggedRows) else 0
        batch = pack_rows(tokens, types, rows + [[]] * (count - len(rows)), self.max_length, self.max_per_row,
                          pad_id)
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
    whose ``example_index`` is -1, so every batch has the same size and padding is never scored. Widths as
    in TrainBatches, planned from these batches' own longest rows."""

    def __init__(self, features: Features, global_batch: int, max_length: int, multiple: int,
                 process_index: int = 0, process_count: int = 1, max_widths: int = 0):
        self.features, self.global_batch, self.max_length = features, global_batch, max_length
        self.order = np.argsort(features.lengths, kind="stable")
        maxima = [features.lengths[self.order[k:k + global_batch]].max() for k in range(0, len(features), global_batch)]
        self.widths = widths_lib.plan_fixed(np.array(maxima), max_length, multiple, max_widths) if maxima \
            else (max_length,)
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
        width = widths_lib.fit(self.features.lengths[real].max(), self.widths)
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
    max_widths: int = 0  # per split, at most this many batch widths (compiled shapes); 0 = every multiple

    def batches(self, training: bool, global_batch: int, seed: int, process_index: int, process_count: int):
        process = {"process_index": process_index, "process_count": process_count}
        planned = {**process, "max_widths": self.max_widths}
        if training and self.pack_per_row > 1:
            return PackedTrainBatches(self.features, global_batch, seed, self.max_length, self.pack_per_row,
                                      self.packed_row_multiple, **process)
        if training:
            return TrainBatches(self.features, global_batch, seed, self.max_length, self.pad_to_multiple_of,
                                **planned)
        return EvalBatches(self.features, global_batch, self.max_length, self.pad_to_multiple_of, **planned)


def host_batches(task, config, split: str) -> Sequence[dict[str, np.ndarray]]:
    """This host's batches of ``split`` of ``task`` (item k = step k; "train" is the endless shuffled
    stream of config.batch_size, any other split one pass of config.eval_batch_size)."""
    training = split == "train"
    return task.data_spec(split).batches(training, config.batch_size if training else config.eval_batch_size,
                                         config.seed, jax.process_index(), jax.process_count())

"""Pretraining data on disk and in the loader.

On disk: segment pairs (unmasked) in numpy shards, ``<split>-00000.<field>.npy``: fixed-width rows that
load memory-mapped, give grain O(1) random access and need no extra dependency; written streaming, one
shard at a time, with ``meta.json`` written last (atomically) as the mark of a complete directory.

In the loader: a grain ``MapDataset`` (index-addressable, so the data position is just the step number:
resume is exact with no iterator state to save) that shuffles per epoch, shards per host, masks each
example (fresh per epoch = dynamic masking, or fixed per example = static) and batches.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import random
from typing import Iterable

import grain
import jax
import numpy as np

from bert_jax.data.packing import pack_stream
from bert_jax.data.pretraining import MaskOptions, Pair, packed_features
from bert_jax.io_utils import atomic_path, write_json

PAIR_FIELDS = ("tokens", "segment_ids", "pack_ids", "length", "is_random_next")


def write_pair_shards(pairs: Iterable[Pair], directory: str, split: str, max_seq_length: int,
                      rows_per_shard: int = 200_000, max_per_row: int = 1) -> int:
    """Streams pairs into shards of rows (``max_per_row`` > 1 packs consecutive pairs into one row);
    memory holds one shard. Returns the number of pairs written."""
    os.makedirs(directory, exist_ok=True)
    total, shard = 0, 0
    buffer: list[list[Pair]] = []

    def flush():
        nonlocal shard
        if not buffer:
            return
        n = len(buffer)
        arrays = {
            "tokens": np.zeros((n, max_seq_length), np.int32),
            "segment_ids": np.zeros((n, max_seq_length), np.int8),
            "pack_ids": np.zeros((n, max_seq_length), np.int8),  # 1..k: which pair of the row; 0 = padding
            "length": np.zeros(n, np.int32),
            "is_random_next": np.full((n, max_per_row), -1, np.int8),  # -1: no pair in that slot
        }
        for row, packed in enumerate(buffer):
            start = 0
            for k, pair in enumerate(packed):
                end = start + len(pair.tokens)
                arrays["tokens"][row, start:end] = pair.tokens
                arrays["segment_ids"][row, start:end] = pair.segment_ids
                arrays["pack_ids"][row, start:end] = k + 1
                arrays["is_random_next"][row, k] = pair.is_random_next
                start = end
            arrays["length"][row] = start
        for field, value in arrays.items():
            with atomic_path(os.path.join(directory, f"{split}-{shard:05d}.{field}.npy")) as tmp:
                with open(tmp, "wb") as f:
                    np.save(f, value)
        shard += 1
        buffer.clear()

    def checked(stream):
        nonlocal total
        for pair in stream:
            if len(pair.tokens) > max_seq_length:
                raise ValueError(f"pair of {len(pair.tokens)} tokens exceeds max_seq_length={max_seq_length}")
            total += 1
            yield pair

    pending: dict[int, Pair] = {}  # pairs of the rows still open

    def lengths():
        for i, pair in enumerate(checked(pairs)):
            pending[i] = pair
            yield len(pair.tokens)

    # Next-fit (open_rows=1): consecutive pairs of a document share a row while they fit.
    for _, row in pack_stream(lengths(), max_seq_length, max_per_row, open_rows=1):
        buffer.append([pending.pop(i) for i in row])
        if len(buffer) == rows_per_shard:
            flush()
    flush()
    return total


class PairSource:
    """grain RandomAccessDataSource over the rows of one split (memory-mapped). An item is the row as stored:
    {'index', 'tokens', 'segment_ids', 'pack_ids' [length], 'is_random_next' [max_per_row]}, numpy arrays
    (grain sizes every read by walking its leaves: Python lists of token ids cost it ~10 ms a batch);
    ``instances(item)`` splits it into its pairs."""

    def __init__(self, directory: str, split: str):
        self.directory, self.split = directory, split
        stems = sorted({p.rsplit(".", 2)[0] for p in glob.glob(os.path.join(directory, f"{split}-*.tokens.npy"))})
        if not stems:
            raise FileNotFoundError(f"{directory}: no '{split}' pair shards")
        self._shards = [{f: np.load(f"{stem}.{f}.npy", mmap_mode="r") for f in PAIR_FIELDS} for stem in stems]
        self._starts = np.cumsum([0] + [len(s["length"]) for s in self._shards])
        self.max_per_row = int(self._shards[0]["is_random_next"].shape[1])

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __getitem__(self, index: int) -> dict:
        shard = int(np.searchsorted(self._starts, index, side="right") - 1)
        row = index - int(self._starts[shard])
        s = self._shards[shard]
        n = int(s["length"][row])
        return {"index": index, "tokens": s["tokens"][row, :n], "segment_ids": s["segment_ids"][row, :n],
                "pack_ids": s["pack_ids"][row, :n], "is_random_next": s["is_random_next"][row]}


def instances(record: dict) -> list[tuple[list[int], list[int], bool]]:
    """A PairSource row → its pairs as (tokens, token types, is_random_next), in row order."""
    out = []
    for k, flag in enumerate(record["is_random_next"]):
        if flag < 0:
            break
        where = record["pack_ids"] == k + 1
        out.append((record["tokens"][where].tolist(), record["segment_ids"][where].tolist(), bool(flag)))
    return out


def read_meta(directory: str) -> dict | None:
    path = os.path.join(directory, "meta.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def write_meta(directory: str, meta: dict) -> None:
    write_json(os.path.join(directory, "meta.json"), meta)


def pretraining_batches(source: PairSource, batch_size: int, max_seq_length: int, mask: MaskOptions,
                        special_ids: frozenset[int], mask_id: int, vocab_size: int,
                        is_continuation: np.ndarray | None, seed: int, dynamic_masking: bool = True,
                        shuffle: bool = True, repeat: bool = True, process_index: int | None = None,
                        process_count: int | None = None, pad_id: int = 0) -> grain.MapDataset:
    """MapDataset whose item k is the host-local batch of step k (dict of [batch_size, ...] arrays);
    rows of a packed source get the packed features (see pretraining.packed_features).

    ``batch_size`` is per host: the global batch is batch_size × process_count, and host h takes rows
    [h·batch_size, (h+1)·batch_size) of it. Masks are drawn per position of the global stream (the random
    map comes before the host slice), so the global batch of a step is the same rows in the same order
    with the same masks however many processes share it. Without ``repeat`` (eval) and with several
    processes, the examples that do not fill a whole global batch are left out: every host must feed a
    batch of the same size.
    """
    process_index = jax.process_index() if process_index is None else process_index
    process_count = jax.process_count() if process_count is None else process_count
    ds = grain.MapDataset.source(source)
    if shuffle:
        ds = ds.shuffle(seed=seed)
    if repeat:
        ds = ds.repeat()

    packed = source.max_per_row > 1

    def featurize(record, rng):
        return packed_features(instances(record), max_seq_length, source.max_per_row, mask, special_ids, mask_id,
                               vocab_size, is_continuation, rng, packed=packed, pad_id=pad_id)

    if dynamic_masking:
        ds = ds.random_map(lambda r, g: featurize(r, random.Random(int(g.integers(2**62)))), seed=seed + 1)
    else:  # the same mask for an example every time it is seen
        ds = ds.map(lambda r: featurize(r, random.Random(hash((seed, r["index"])) & (2**62 - 1))))
    # Sub-batch s of the global stream is rows [s·batch_size, (s+1)·batch_size): global batch k is
    # sub-batches k·P .. k·P+P-1, so host h takes every P-th sub-batch from h. Lazy: a host featurizes
    # only its own examples.
    ds = ds.batch(batch_size, drop_remainder=repeat or process_count > 1)
    if process_count > 1:
        if not repeat:
            ds = ds[: len(ds) // process_count * process_count]
        ds = ds[process_index::process_count]
    return ds


@dataclasses.dataclass(frozen=True)
class PairSpec:
    """A pretraining split (the pair shards of ``directory``) and how its rows are masked: the data spec
    of the pretraining task. Training batches are shuffled, repeated and (with ``dynamic_masking``) masked
    anew each time; eval batches are one fixed pass with static masks."""

    directory: str
    split: str
    max_seq_length: int
    mask: MaskOptions
    special_ids: frozenset[int]
    mask_id: int
    vocab_size: int
    is_continuation: np.ndarray | None
    dynamic_masking: bool = True
    pad_id: int = 0

    def batches(self, training: bool, global_batch: int, seed: int, process_index: int, process_count: int):
        return pretraining_batches(
            PairSource(self.directory, self.split), global_batch // process_count, self.max_seq_length, self.mask,
            self.special_ids, self.mask_id, self.vocab_size, self.is_continuation, seed=seed,
            dynamic_masking=training and self.dynamic_masking, shuffle=training, repeat=training,
            process_index=process_index, process_count=process_count, pad_id=self.pad_id)

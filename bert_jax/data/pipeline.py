"""Pretraining data on disk and in the loader.

On disk: segment pairs (unmasked) in numpy shards, ``<split>-00000.<field>.npy``: fixed-width rows that
load memory-mapped, give grain O(1) random access and need no extra dependency; written streaming, one
shard at a time, with ``meta.json`` written last (atomically) as the mark of a complete directory.

In the loader: a grain ``MapDataset`` (index-addressable, so the data position is just the step number:
resume is exact with no iterator state to save) that shuffles per epoch, shards per host, masks each
example (fresh per epoch = dynamic masking, or fixed per example = static) and batches.
"""

from __future__ import annotations

import glob
import json
import os
import random
from typing import Iterable

import grain
import jax
import numpy as np

from bert_jax.data.pretraining import MaskOptions, Pair, pretraining_features
from bert_jax.io_utils import atomic_path, write_json

PAIR_FIELDS = ("tokens", "segment_ids", "length", "is_random_next")


def write_pair_shards(pairs: Iterable[Pair], directory: str, split: str, max_seq_length: int,
                      rows_per_shard: int = 200_000) -> int:
    """Streams pairs into shards; memory holds one shard. Returns the number of pairs written."""
    os.makedirs(directory, exist_ok=True)
    total, shard = 0, 0
    buffer: list[Pair] = []

    def flush():
        nonlocal shard
        if not buffer:
            return
        n = len(buffer)
        arrays = {
            "tokens": np.zeros((n, max_seq_length), np.int32),
            "segment_ids": np.zeros((n, max_seq_length), np.int8),
            "length": np.array([len(p.tokens) for p in buffer], np.int32),
            "is_random_next": np.array([p.is_random_next for p in buffer], np.int8),
        }
        for row, pair in enumerate(buffer):
            arrays["tokens"][row, : len(pair.tokens)] = pair.tokens
            arrays["segment_ids"][row, : len(pair.tokens)] = pair.segment_ids
        for field, value in arrays.items():
            with atomic_path(os.path.join(directory, f"{split}-{shard:05d}.{field}.npy")) as tmp:
                with open(tmp, "wb") as f:
                    np.save(f, value)
        shard += 1
        buffer.clear()

    for pair in pairs:
        if len(pair.tokens) > max_seq_length:
            raise ValueError(f"pair of {len(pair.tokens)} tokens exceeds max_seq_length={max_seq_length}")
        buffer.append(pair)
        total += 1
        if len(buffer) == rows_per_shard:
            flush()
    flush()
    return total


class PairSource:
    """grain RandomAccessDataSource over the shards of one split (memory-mapped)."""

    def __init__(self, directory: str, split: str):
        self.directory, self.split = directory, split
        stems = sorted({p.rsplit(".", 2)[0] for p in glob.glob(os.path.join(directory, f"{split}-*.tokens.npy"))})
        if not stems:
            raise FileNotFoundError(f"{directory}: no '{split}' pair shards")
        self._shards = [{f: np.load(f"{stem}.{f}.npy", mmap_mode="r") for f in PAIR_FIELDS} for stem in stems]
        self._starts = np.cumsum([0] + [len(s["length"]) for s in self._shards])

    def __len__(self) -> int:
        return int(self._starts[-1])

    def __getitem__(self, index: int) -> dict:
        shard = int(np.searchsorted(self._starts, index, side="right") - 1)
        row = index - int(self._starts[shard])
        s = self._shards[shard]
        n = int(s["length"][row])
        return {"index": index, "tokens": s["tokens"][row, :n].tolist(),
                "segment_ids": s["segment_ids"][row, :n].tolist(), "is_random_next": bool(s["is_random_next"][row])}


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
                        process_count: int | None = None) -> grain.MapDataset:
    """MapDataset whose item k is the host-local batch of step k (dict of [batch_size, ...] arrays).

    ``batch_size`` is per host: the global batch is batch_size × process_count, each host taking every
    process_count-th example of the shuffled stream.
    """
    process_index = jax.process_index() if process_index is None else process_index
    process_count = jax.process_count() if process_count is None else process_count
    ds = grain.MapDataset.source(source)
    if shuffle:
        ds = ds.shuffle(seed=seed)
    if repeat:
        ds = ds.repeat()
    ds = ds[process_index::process_count]

    def featurize(record, rng):
        return pretraining_features(record["tokens"], record["segment_ids"], record["is_random_next"],
                                    max_seq_length, mask, special_ids, mask_id, vocab_size, is_continuation, rng)

    if dynamic_masking:
        ds = ds.random_map(lambda r, g: featurize(r, random.Random(int(g.integers(2**62)))), seed=seed + 1)
    else:  # the same mask for an example every time it is seen
        ds = ds.map(lambda r: featurize(r, random.Random(hash((seed, r["index"])) & (2**62 - 1))))
    return ds.batch(batch_size, drop_remainder=repeat)

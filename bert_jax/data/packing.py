"""Packing variable-length examples (fine-tuning pairs, pretraining instances) several to a row.

A packed row holds examples one after another, each starting with its own [CLS]; ``segment_ids`` (1..k per
example, 0 = padding) keep attention inside an example, ``position_ids`` restart at 0 for each example, and
``cls_positions`` [max_per_row] point at each example's [CLS] for pooled heads. ``example_index``
[max_per_row] names the example in each slot (-1 = empty) so labels and predictions map back.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Sequence

import numpy as np

PACKING_KEYS = ("position_ids", "segment_ids", "cls_positions")  # the model inputs a packed batch adds


def pack_stream(lengths: Iterable[int], width: int, max_per_row: int, open_rows: int = 64
                ) -> Iterator[tuple[int, list[int]]]:
    """The one packer: first-fit over a window of ``open_rows`` rows, in stream order (deterministic, one
    pass, O(n·open_rows) time, memory for the window only). ``open_rows=1`` is next-fit: consecutive
    examples share a row while they fit (pretraining packs its pairs so, keeping neighbours together).

    Yields (row number, example indices) as rows close, row numbers in the order rows were opened. When the
    window is full the fullest open row is closed, so rows stay near ``width``. An example longer than
    ``width`` is an error, not truncated here.
    """
    room: list[int] = []  # free tokens of each open row, parallel to `open_rows_`
    open_rows_: list[tuple[int, list[int]]] = []
    opened = 0
    for index, length in enumerate(lengths):
        if length > width:
            raise ValueError(f"example {index} has {length} tokens; a packed row holds {width}")
        slot = next((j for j, r in enumerate(room)
                     if r >= length and len(open_rows_[j][1]) < max_per_row), None)
        if slot is None:
            if len(open_rows_) == open_rows:
                fullest = int(np.argmin(room))
                yield open_rows_.pop(fullest)
                del room[fullest]
            open_rows_.append((opened, []))
            room.append(width)
            opened += 1
            slot = len(open_rows_) - 1
        open_rows_[slot][1].append(index)
        room[slot] -= length
    yield from open_rows_


def pack_lengths(lengths: Sequence[int], width: int, max_per_row: int, open_rows: int = 64) -> list[list[int]]:
    """``pack_stream`` of a whole list: rows of example indices in the order they were opened."""
    return [row for _, row in sorted(pack_stream(lengths, width, max_per_row, open_rows), key=lambda r: r[0])]


def pack_rows(token_ids: Sequence[Sequence[int]], token_types: Sequence[Sequence[int]], rows: list[list[int]],
              width: int, max_per_row: int, pad_id: int = 0) -> dict[str, np.ndarray]:
    """Materialises ``rows`` (from pack_lengths) of examples given as token id / token type lists.

    Returns input_ids, token_type_ids, attention_mask, position_ids, segment_ids [len(rows), width] and
    cls_positions, example_index (-1 = empty slot) [len(rows), max_per_row], all int32.
    """
    n = len(rows)
    out = {name: np.zeros((n, width), np.int32) for name in
           ("input_ids", "token_type_ids", "attention_mask", "position_ids", "segment_ids")}
    out["input_ids"][:] = pad_id
    out["cls_positions"] = np.zeros((n, max_per_row), np.int32)
    out["example_index"] = np.full((n, max_per_row), -1, np.int32)
    for r, members in enumerate(rows):
        if len(members) > max_per_row:
            raise ValueError(f"row {r} has {len(members)} examples; max_per_row is {max_per_row}")
        start = 0
        for k, index in enumerate(members):
            ids = token_ids[index]
            end = start + len(ids)
            if end > width:
                raise ValueError(f"row {r} needs {end} tokens; width is {width}")
            out["input_ids"][r, start:end] = ids
            out["token_type_ids"][r, start:end] = token_types[index]
            out["attention_mask"][r, start:end] = 1
            out["position_ids"][r, start:end] = np.arange(len(ids))
            out["segment_ids"][r, start:end] = k + 1
            out["cls_positions"][r, k] = start
            out["example_index"][r, k] = index
            start = end
    return out

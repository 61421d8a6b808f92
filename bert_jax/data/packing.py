"""Packing variable-length examples (fine-tuning pairs, pretraining instances) several to a row.

A packed row holds examples one after another, each starting with its own [CLS]; ``segment_ids`` (1..k per
example, 0 = padding) keep attention inside an example, ``position_ids`` restart at 0 for each example, and
``cls_positions`` [max_per_row] point at each example's [CLS] for pooled heads. ``example_index``
[max_per_row] names the example in each slot (-1 = empty) so labels and predictions map back.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

PACKING_KEYS = ("position_ids", "segment_ids", "cls_positions")  # the model inputs a packed batch adds


def pack_lengths(lengths: Sequence[int], width: int, max_per_row: int, open_rows: int = 64) -> list[list[int]]:
    """First-fit over a window of ``open_rows`` rows, in the given order (deterministic, O(n·open_rows)).

    Returns rows of example indices; an example longer than ``width`` is an error, not truncated here.
    When the window is full the fullest open row is closed, so rows stay near ``width``.
    """
    rows: list[list[int]] = []
    room: list[int] = []  # free tokens of each open row, parallel to `open_ids`
    open_ids: list[int] = []
    for index, length in enumerate(lengths):
        if length > width:
            raise ValueError(f"example {index} has {length} tokens; a packed row holds {width}")
        slot = next((j for j, r in enumerate(room)
                     if r >= length and len(rows[open_ids[j]]) < max_per_row), None)
        if slot is None:
            if len(open_ids) == open_rows:
                fullest = int(np.argmin(room))
                del room[fullest], open_ids[fullest]
            rows.append([])
            open_ids.append(len(rows) - 1)
            room.append(width)
            slot = len(open_ids) - 1
        rows[open_ids[slot]].append(index)
        room[slot] -= length
    return rows


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

"""Batch widths: each batch is padded to the narrowest of a few planned widths that holds its longest row.

Every width is one compiled program (a train step or an eval step), and every padded token costs as much as a
real one, so a split gets at most ``limit`` widths, multiples of ``multiple``, chosen to pad least: the
widths that minimise the expected width of a batch, given how the batches' longest rows are distributed.

- Training batches are shuffled draws of ``batch`` examples: the longest row of a batch is ≤ c with
  probability F(c)^batch, F the split's length distribution (drawn with replacement; a shuffled epoch draws
  without, which tightens the maxima a little). The plan depends on the lengths and the batch size only, so
  every host, a resumed run and another seed get the same widths.
- Evaluation batches are fixed (one pass in length order): their longest rows are counted exactly.

MRPC (3,668 pairs, batch 32, max_seq_length 128): multiples of 32 pad its batches to 96 or 128 (1.22× the
tokens of padding each batch to its longest row); four planned multiples of 8 (72, 80, 88, 104) pad to
1.05× with as many compiled widths.
"""

from __future__ import annotations

import numpy as np

# The fine-tuning loaders' defaults (config.data.pad_to_multiple_of, config.data.max_widths).
DEFAULT_MULTIPLE, DEFAULT_LIMIT = 8, 4


def bucket_width(length: int, max_length: int, multiple: int) -> int:
    """The next multiple of ``multiple`` ≥ ``length``, capped at max_length (0 = always max_length)."""
    if not multiple:
        return max_length
    return min(max_length, -(-int(length) // multiple) * multiple)


def candidates(longest: int, max_length: int, multiple: int) -> list[int]:
    """Every width a batch whose rows are at most ``longest`` long may need: the multiples up to its bucket."""
    top = bucket_width(longest, max_length, multiple)
    if not multiple:
        return [top]
    return sorted({bucket_width(m, max_length, multiple) for m in range(1, top + 1)})


def fewest_padding(probability: dict[int, float], limit: int) -> tuple[int, ...]:
    """At most ``limit`` widths among ``probability``'s keys (candidate widths; value: the probability that a
    batch's longest row needs exactly that candidate) that minimise the expected padded width, each batch
    taking the narrowest chosen width that holds it. The widest candidate is always chosen (it holds every
    batch). Exact: a dynamic programme over the sorted candidates, O(n² · limit)."""
    widths = sorted(probability)
    n = len(widths)
    if limit <= 0 or limit >= n:
        return tuple(widths)
    mass = np.concatenate([[0.0], np.cumsum([probability[w] for w in widths])])
    # cost[m][j]: least expected width of the batches needing ≤ widths[j], with m chosen widths, widths[j] one.
    cost = np.full((limit + 1, n), np.inf)
    previous = np.full((limit + 1, n), -1)
    cost[1] = [w * mass[j + 1] for j, w in enumerate(widths)]
    for m in range(2, limit + 1):
        for j in range(n):
            for i in range(j):
                value = cost[m - 1][i] + widths[j] * (mass[j + 1] - mass[i + 1])
                if value < cost[m][j] - 1e-12:
                    cost[m][j], previous[m][j] = value, i
    m = min(range(1, limit + 1), key=lambda count: (cost[count][n - 1], count))
    chosen, j = [], n - 1
    while j >= 0:
        chosen.append(widths[j])
        j, m = previous[m][j], m - 1
    return tuple(sorted(chosen))


def plan_shuffled(lengths: np.ndarray, batch: int, max_length: int, multiple: int, limit: int) -> tuple[int, ...]:
    """Widths for shuffled batches of ``batch`` examples with these row lengths (see the module docstring)."""
    lengths = np.minimum(np.asarray(lengths), max_length)
    options = candidates(int(lengths.max()), max_length, multiple)
    below = np.array([np.mean(lengths <= w) for w in options]) ** batch
    return fewest_padding(dict(zip(options, np.diff(np.concatenate([[0.0], below])), strict=True)), limit)


def plan_fixed(maxima: np.ndarray, max_length: int, multiple: int, limit: int) -> tuple[int, ...]:
    """Widths for batches whose longest rows are ``maxima`` (known batches: evaluation)."""
    maxima = np.minimum(np.asarray(maxima), max_length)
    options = candidates(int(maxima.max()), max_length, multiple)
    needed = np.array([bucket_width(m, max_length, multiple) for m in maxima])
    return fewest_padding({w: float(np.mean(needed == w)) for w in options}, limit)


def fit(length: int, widths: tuple[int, ...]) -> int:
    """The narrowest of ``widths`` (sorted) that holds ``length`` tokens; the widest if none does (rows
    longer than the widest are cut there, as at max_seq_length)."""
    for width in widths:
        if width >= length:
            return width
    return widths[-1]

"""Shared timing rule of the benchmarks: warm-up calls excluded, median of the timed repeats."""

from __future__ import annotations

import statistics
import time
from typing import Callable


class Seconds(float):
    """A median in seconds that carries the spread of the timed repeats (slowest / fastest)."""

    spread: float

    def __new__(cls, median: float, spread: float):
        value = super().__new__(cls, median)
        value.spread = spread
        return value

    def per(self, steps: int) -> "Seconds":
        """Seconds per step of a timed call that ran ``steps`` steps (the spread is unchanged)."""
        return Seconds(self / steps, self.spread)


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> Seconds:
    """``fn`` must block until its work is done (e.g. jax.block_until_ready)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return Seconds(statistics.median(times), max(times) / min(times))

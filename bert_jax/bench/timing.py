"""Shared timing rule of the benchmarks: warm-up calls excluded, median of the timed repeats; ours and the
peer timed in alternation (``interleaved_seconds``), so that a slow phase of a shared machine falls on both."""

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


def warm_up(fn: Callable[[], object], calls: int) -> Callable[[], object]:
    """Runs ``fn`` ``calls`` times (compiles, autotuning, first-touch allocations) and returns it."""
    for _ in range(calls):
        fn()
    return fn


def interleaved_seconds(calls: dict[str, Callable[[], object]], repeats: int) -> dict[str, Seconds]:
    """Median seconds of each (warmed-up) call, timed in ``repeats`` rounds that run every call once in turn.

    On the shared 2-core machines we measure on, speed drifts by 10-25% over minutes; timing one side's
    repeats and then the other's let a slow phase land on one side alone (BERT-base inference read 0.65× in
    one run and 1.26× in the next, HF's median 749 ms, then 1,409 ms). In alternation both sides see the same
    phases, and the ratio holds."""
    times = {name: [] for name in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: Seconds(statistics.median(t), max(t) / min(t)) for name, t in times.items()}

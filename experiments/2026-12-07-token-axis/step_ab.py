"""In-process A/B of `bench pretrain --size=base --seq=128 --batch=8`'s step: dense products over one token axis
(today's models/bert.py) against the old batch × seq contraction, with an A/A copy of the old program.

    JAX_PLATFORMS=cpu python experiments/2026-12-07-token-axis/step_ab.py [rounds]
"""

from __future__ import annotations

import pathlib
import sys

from bert_jax import host_memory

host_memory.keep_freed_memory()  # as the benchmarks run

from bert_jax.bench.timing import interleaved_seconds  # noqa: E402

HERE = pathlib.Path(__file__).parent
sys.path[:0] = [str(HERE), str(HERE.parent / "2026-12-07-pretrain-step-floor")]
from old_products import old_products  # noqa: E402
from step_variants import compiled_variant  # noqa: E402


def variant(old: bool):
    with old_products(old):
        return compiled_variant(0.1, 0.1, True, {})  # dropout 0.1 everywhere, AdamW update: bench's step


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    calls = {"old (batch, seq axes)": variant(True), "old (A/A copy)": variant(True),
             "new (one token axis)": variant(False)}
    for call in calls.values():
        call()
        call()  # warm
    seconds = interleaved_seconds(calls, rounds)
    first = seconds["old (batch, seq axes)"]
    for name, value in seconds.items():
        print(f"{name:24s} median {1e3 * value:8.1f} ms  max/min {value.spread:.2f}x  vs old {value / first:.3f}")


if __name__ == "__main__":
    main()

"""Does one side's call slow the other's next call? `bench infer` (BERT-base, 8 × 128) alternates ours and HF's
forward; here each side is timed right after itself, right after the other side, and (ours) after a 0.5 s sleep.

    JAX_PLATFORMS=cpu python experiments/2026-12-07-token-axis/peer_interference.py [rounds]
"""

from __future__ import annotations

import statistics
import sys
import time

from bert_jax import host_memory

host_memory.keep_freed_memory()  # as the benchmarks run

from bert_jax.bench import infer_bench  # noqa: E402
from bert_jax.models.config import BertConfig  # noqa: E402


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    config = BertConfig.preset("base", dtype="float32")
    batch = infer_bench.random_batch(config, 8, 128)
    ours = infer_bench.ours_forward(config, batch).call
    hf = infer_bench.peer_forward(config, batch, "float32", "eager").call
    for _ in range(3):
        ours()
        hf()
    times = {"ours after ours": [], "ours after HF": [], "ours after a 0.5 s sleep": [], "HF after HF": [],
             "HF after ours": []}
    for _ in range(rounds):
        ours()
        times["ours after ours"].append(timed(ours))
        hf()
        times["ours after HF"].append(timed(ours))
        time.sleep(0.5)
        times["ours after a 0.5 s sleep"].append(timed(ours))
        hf()
        times["HF after HF"].append(timed(hf))
        ours()
        times["HF after ours"].append(timed(hf))
    for name, values in times.items():
        print(f"{name:26s} median {1e3 * statistics.median(values):7.1f} ms  min {1e3 * min(values):7.1f}")


if __name__ == "__main__":
    main()

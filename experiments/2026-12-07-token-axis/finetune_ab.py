"""In-process A/B on `bench finetune --size=minilm-l6`'s epoch (SST-2-like lengths, the planned widths): dense
products over one token axis against the old batch × seq contraction, with an A/A copy of the old program.

    JAX_PLATFORMS=cpu python experiments/2026-12-07-token-axis/finetune_ab.py [rounds]
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from bert_jax import host_memory

host_memory.keep_freed_memory()  # as the benchmarks run

from bert_jax.bench import finetune_bench  # noqa: E402
from bert_jax.bench.pretrain_bench import model_config  # noqa: E402
from bert_jax.bench.timing import interleaved_seconds, warm_up  # noqa: E402
from bert_jax.data import widths  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from old_products import old_products  # noqa: E402


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    parser = argparse.ArgumentParser()
    finetune_bench.add_arguments(parser)
    args = parser.parse_args(["--size=minilm-l6"])
    config = model_config(args)
    ids, types, labels, _ = finetune_bench.examples(config.vocab_size, args.batch * args.steps, args.lengths)
    batches = finetune_bench.padded_batches(ids, types, labels, args.batch, widths.DEFAULT_MULTIPLE, args.seq,
                                            widths.DEFAULT_LIMIT)

    def epoch(old: bool):
        with old_products(old):  # the programs are traced in the warm-up call
            return warm_up(finetune_bench.ours_epoch(config, batches).call, 1)

    calls = {"old": epoch(True), "old (A/A copy)": epoch(True), "new": epoch(False)}
    seconds = interleaved_seconds(calls, rounds)
    for name, value in seconds.items():
        print(f"{name:16s} {1e3 * value / args.steps:8.1f} ms/step  max/min {value.spread:.2f}x  "
              f"vs old {value / seconds['old']:.3f}")


if __name__ == "__main__":
    main()

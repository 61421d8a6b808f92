"""python -m bert_jax.bench {tokenize,pretrain,finetune,infer,gemm,profile} [options]: ours, the peer and the ratio
(gemm: the matmul ceiling those ratios are bounded by; profile: where a step's time goes, kernel by kernel)."""

import argparse
import os
import sys

from bert_jax import host_memory
from bert_jax.bench import finetune_bench, gemm_bench, infer_bench, pretrain_bench, profile_bench, tokenizer_bench

BENCHMARKS = {"tokenize": tokenizer_bench, "pretrain": pretrain_bench, "finetune": finetune_bench,
              "infer": infer_bench, "gemm": gemm_bench, "profile": profile_bench}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bert_jax.bench")
    sub = parser.add_subparsers(dest="name", required=True)
    for name, module in BENCHMARKS.items():
        module.add_arguments(sub.add_parser(name, help=module.__doc__.splitlines()[0]))
    parser.add_argument("--keep_freed_host_memory", choices=("auto", "yes", "no"),
                        default=os.environ.get("BERT_JAX_KEEP_FREED_HOST_MEMORY", "auto"),
                        help="glibc keeps freed memory for reuse (bert_jax.host_memory); auto: on CPU-only hosts; "
                             "default from $BERT_JAX_KEEP_FREED_HOST_MEMORY, else auto, as the CLI does. It "
                             "applies to the whole process: ours and the peer alike")
    args = parser.parse_args(argv)
    if host_memory.keep_freed_memory_on_cpu(args.keep_freed_host_memory):
        print("host memory: glibc keeps freed blocks (one arena, no mmap, no trim) for ours and the peer alike")
    return BENCHMARKS[args.name].run(args)


if __name__ == "__main__":
    sys.exit(main())

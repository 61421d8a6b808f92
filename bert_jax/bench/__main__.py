"""python -m bert_jax.bench {tokenize,pretrain,finetune,infer,gemm,profile} [options]: ours, the peer and the ratio
(gemm: the matmul ceiling those ratios are bounded by; profile: where a step's time goes, kernel by kernel)."""

import argparse
import sys

from bert_jax.bench import finetune_bench, gemm_bench, infer_bench, pretrain_bench, profile_bench, tokenizer_bench

BENCHMARKS = {"tokenize": tokenizer_bench, "pretrain": pretrain_bench, "finetune": finetune_bench,
              "infer": infer_bench, "gemm": gemm_bench, "profile": profile_bench}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bert_jax.bench")
    sub = parser.add_subparsers(dest="name", required=True)
    for name, module in BENCHMARKS.items():
        module.add_arguments(sub.add_parser(name, help=module.__doc__.splitlines()[0]))
    args = parser.parse_args(argv)
    return BENCHMARKS[args.name].run(args)


if __name__ == "__main__":
    sys.exit(main())

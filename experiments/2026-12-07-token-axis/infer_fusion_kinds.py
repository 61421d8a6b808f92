"""BERT-base inference forward (bench infer's program, 8 × 128) compiled with XLA:CPU's YNNPACK fusion kinds
chosen: none (Eigen matmuls and XLA's own loops: compile_options.forward_only()), reductions only, element-wise
and reductions, and XLA's default (all, matmuls included); interleaved rounds with an A/A copy.

    JAX_PLATFORMS=cpu python experiments/2026-12-07-token-axis/infer_fusion_kinds.py [rounds]
"""

from __future__ import annotations

import sys

from bert_jax import host_memory

host_memory.keep_freed_memory()  # as the benchmarks run

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from bert_jax.bench.infer_bench import random_batch  # noqa: E402
from bert_jax.bench.timing import interleaved_seconds  # noqa: E402
from bert_jax.convert import init_params  # noqa: E402
from bert_jax.models.bert import BertModel  # noqa: E402
from bert_jax.models.config import BertConfig  # noqa: E402

KINDS = {"none (forward_only)": "", "none (A/A copy)": "", "reductions": "LIBRARY_FUSION_TYPE_REDUCE",
         "element-wise + reductions": "LIBRARY_FUSION_TYPE_ELTWISE,LIBRARY_FUSION_TYPE_REDUCE",
         "XLA's default": None}


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    config = BertConfig.preset("base", dtype="float32")
    model = BertModel(config)
    params = init_params(model, jax.random.PRNGKey(0))
    inputs = jax.device_put({k: jnp.asarray(v) for k, v in random_batch(config, 8, 128).items()})
    calls = {}
    for name, kinds in KINDS.items():
        options = {} if kinds is None else {"xla_cpu_experimental_ynn_fusion_type": kinds}
        forward = jax.jit(lambda p, b: model.apply({"params": p}, **b).pooled_output, compiler_options=options)
        compiled = forward.lower(params, inputs).compile()
        calls[name] = lambda compiled=compiled: jax.block_until_ready(compiled(params, inputs))
        calls[name]()
    seconds = interleaved_seconds(calls, rounds)
    base = seconds["none (forward_only)"]
    for name, value in seconds.items():
        print(f"{name:26s} median {1e3 * value:8.1f} ms  max/min {value.spread:.2f}x  ({value / base:.3f})")


if __name__ == "__main__":
    main()

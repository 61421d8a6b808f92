"""BERT inference forward (bench infer's program) compiled with XLA's Eigen matmuls (what
compile_options.forward_only() picks on CPU, measured faster on an Intel AVX-512/AMX machine) against the
default YNNPACK matmuls, in interleaved rounds with an A/A copy, on this machine.

    JAX_PLATFORMS=cpu python experiments/2026-12-07-pretrain-step-floor/forward_dots.py [size batch seq rounds]
"""

from __future__ import annotations

import sys

from bert_jax import host_memory

host_memory.keep_freed_memory()  # as the benchmarks run

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from bert_jax.bench.infer_bench import random_batch  # noqa: E402
from bert_jax.bench.timing import interleaved_seconds  # noqa: E402
from bert_jax.convert import init_params  # noqa: E402
from bert_jax.models.bert import BertModel  # noqa: E402
from bert_jax.models.config import BertConfig  # noqa: E402

VARIANTS = {"eigen (forward_only)": {"xla_cpu_experimental_ynn_fusion_type": ""},
            "eigen (A/A copy)": {"xla_cpu_experimental_ynn_fusion_type": ""},
            "ynnpack (default)": {}}


def main() -> None:
    size, batch, seq, rounds = (sys.argv[1:] + ["base", "8", "128", "10"][len(sys.argv) - 1:])[:4]
    config = BertConfig.preset(size, dtype="float32")
    model = BertModel(config)
    params = init_params(model, jax.random.PRNGKey(0))
    inputs = jax.device_put({k: jnp.asarray(v) for k, v in random_batch(config, int(batch), int(seq)).items()})
    calls, outputs = {}, {}
    for name, options in VARIANTS.items():
        forward = jax.jit(lambda p, b: model.apply({"params": p}, **b).pooled_output, compiler_options=options)
        compiled = forward.lower(params, inputs).compile()
        outputs[name] = np.asarray(compiled(params, inputs))
        calls[name] = lambda compiled=compiled: jax.block_until_ready(compiled(params, inputs))
        calls[name]()
    first = next(iter(outputs.values()))
    print("max |difference| of the pooled outputs:",
          max(float(np.max(np.abs(out - first))) for out in outputs.values()))
    seconds = interleaved_seconds(calls, int(rounds))
    base = next(iter(seconds.values()))
    for name, value in seconds.items():
        print(f"{name:22s} median {1e3 * value:8.1f} ms  max/min {value.spread:.2f}x  "
              f"({value / base:.3f})")

if __name__ == "__main__":
    main()

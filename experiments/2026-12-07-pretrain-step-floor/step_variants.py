"""In-process A/B of variants of `bench pretrain --size=base --seq=128 --batch=8`'s step (BERT-base, fp32,
AdamW, dropout 0.1): each variant compiled once, then timed in interleaved rounds with an A/A copy of the first.

    JAX_PLATFORMS=cpu python experiments/2026-12-07-pretrain-step-floor/step_variants.py anatomy [rounds]
    JAX_PLATFORMS=cpu python experiments/2026-12-07-pretrain-step-floor/step_variants.py xla_options [rounds]

``anatomy``: without attention dropout, without any dropout, gradients only (no clip, no update), both; and
matmul_skeleton.py's chain (the step's products alone, forward and backward), the floor the matmuls set.
``xla_options``: XLA:CPU compiler options the earlier passes had not tried on this step.
"""

from __future__ import annotations

import functools
import pathlib
import sys

from bert_jax import host_memory

host_memory.keep_freed_memory()  # as the benchmarks run

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from bert_jax.bench.pretrain_bench import example_lengths, padded_batch  # noqa: E402
from bert_jax.bench.timing import interleaved_seconds  # noqa: E402
from bert_jax.models.config import BertConfig  # noqa: E402
from bert_jax.models.heads import BertWithHead, PretrainingHeads  # noqa: E402
from bert_jax.optim import create_optimizer  # noqa: E402
from bert_jax.step import create_state, train_step  # noqa: E402
from bert_jax.tasks.pretrain import PretrainingStep  # noqa: E402

# name → (hidden dropout, attention dropout, with the update, XLA compiler options)
SETS = {
    "anatomy": {
        "step": (0.1, 0.1, True, {}),
        "step (A/A copy)": (0.1, 0.1, True, {}),
        "no attention dropout": (0.1, 0.0, True, {}),
        "no dropout": (0.0, 0.0, True, {}),
        "gradients only": (0.1, 0.1, False, {}),
        "no dropout, gradients only": (0.0, 0.0, False, {}),
        "matmul skeleton": None,
    },
    "xla_options": {
        "step": (0.1, 0.1, True, {}),
        "step (A/A copy)": (0.1, 0.1, True, {}),
        "prefer_vector_width=512": (0.1, 0.1, True, {"xla_cpu_prefer_vector_width": 512}),
        "memory-optimised scheduler": (0.1, 0.1, True,
                                       {"xla_cpu_scheduler_type": "CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED"}),
        "no concurrency-optimised scheduler": (0.1, 0.1, True,
                                               {"xla_cpu_enable_concurrency_optimized_scheduler": False}),
        "XNNPACK graph fusion, greedy": (
            0.1, 0.1, True, {"xla_cpu_experimental_xnn_graph_fusion_mode": "XNN_GRAPH_FUSION_MODE_GREEDY"}),
    },
}


def lowered_variant(hidden_dropout, attention_dropout, update, options):
    """(the variant's lowered program, its train state, the batch)."""
    config = BertConfig.preset("base", dtype="float32", attention_implementation="xla",
                               hidden_dropout_prob=hidden_dropout, attention_probs_dropout_prob=attention_dropout)
    model, task, tx = BertWithHead(config, PretrainingHeads(config)), PretrainingStep(), create_optimizer("adamw", 1e-4)
    lengths = example_lengths(np.random.default_rng(0), 8, 128, 0.0)
    batch = jax.device_put({k: jnp.asarray(v) for k, v in padded_batch(config, lengths, 128).items()})
    example = {k: v[:1] for k, v in batch.items()}
    state = jax.jit(lambda r: nn.unbox(create_state(r, model=model, tx=tx, example=example, task=task)))(
        jax.random.PRNGKey(0))
    if update:
        program = jax.jit(functools.partial(train_step, model=model, task=task, tx=tx), donate_argnums=0,
                          compiler_options=options)
    else:
        def gradients(state, batch):
            def loss_fn(params):
                outputs = model.apply({"params": params}, **task.inputs(batch), deterministic=False,
                                      rngs={"dropout": jax.random.fold_in(state.rng, state.step)})
                return task.loss(outputs, batch)
            return jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        program = jax.jit(gradients, compiler_options=options)
    return program.lower(state, batch), state, batch


def compiled_variant(hidden_dropout, attention_dropout, update, options):
    """A zero-argument call that runs the variant's compiled program once and blocks."""
    lowered, state, batch = lowered_variant(hidden_dropout, attention_dropout, update, options)
    compiled = lowered.compile()
    holder = {"state": state}

    def call():
        out = compiled(holder["state"], batch)
        if update:
            holder["state"] = out[0]
        jax.block_until_ready(out)

    return call


def skeleton_call():
    """matmul_skeleton.py's forward + backward, one call."""
    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    import matmul_skeleton

    params = matmul_skeleton.init_params(jax.random.PRNGKey(0))
    x = jax.random.normal(jax.random.PRNGKey(1), (matmul_skeleton.BATCH * matmul_skeleton.SEQ, matmul_skeleton.HIDDEN))
    grad = jax.jit(jax.grad(matmul_skeleton.loss))
    return lambda: jax.block_until_ready(grad(params, x))


def main() -> None:
    variants = SETS[sys.argv[1]]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    calls = {}
    for name, spec in variants.items():
        calls[name] = skeleton_call() if spec is None else compiled_variant(*spec)
        calls[name]()
        calls[name]()  # warm
    seconds = interleaved_seconds(calls, rounds)
    first = seconds["step"]
    for name, value in seconds.items():
        print(f"{name:36s} median {1e3 * value:8.1f} ms  max/min {value.spread:.2f}x  "
              f"vs step {1e3 * (value - first):+7.1f} ms ({value / first:.3f})")

if __name__ == "__main__":
    main()

"""In-process A/B of whole train steps, concatenated vs interleaved dropout draws: the draw function is swapped
at trace time, each variant's step compiled twice (compile times), then run in interleaved rounds (alternating
which goes first); medians and the paired after/before ratio.

    JAX_PLATFORMS=cpu python experiments/2026-12-06-dropout-draws/step_ab.py minilm 25   # fine-tuning, width 88
    JAX_PLATFORMS=cpu python experiments/2026-12-06-dropout-draws/step_ab.py base 14     # pretraining, seq 128
"""

from __future__ import annotations

import functools
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from concat_draws import concatenated_draws  # noqa: E402

from bert_jax import host_memory  # noqa: E402

host_memory.keep_freed_memory()  # as the CLI's train loop runs

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from bert_jax.bench import finetune_bench, pretrain_bench  # noqa: E402
from bert_jax.models import dropout  # noqa: E402
from bert_jax.models.config import BertConfig  # noqa: E402
from bert_jax.models.heads import BertWithHead, PretrainingHeads, SequenceClassificationHead  # noqa: E402
from bert_jax.optim import create_optimizer  # noqa: E402
from bert_jax.step import create_state, train_step  # noqa: E402
from bert_jax.tasks.pretrain import PretrainingStep  # noqa: E402

VARIANTS = {"concatenated": concatenated_draws, "interleaved": dropout.random_draws}


def minilm_batches(n: int = 4, width: int = 88, batch: int = 32) -> list[dict]:
    """SST-2-like fine-tuning batches: rows padded to `width`, the last 18 positions ~70% padding."""
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(n):
        mask = np.ones((batch, width), np.int32)
        mask[:, width - 18:] = rng.uniform(size=(batch, 18)) < 0.3
        batches.append({"input_ids": rng.integers(1000, 30000, (batch, width)).astype(np.int32),
                        "token_type_ids": np.zeros((batch, width), np.int32), "attention_mask": mask,
                        "labels": rng.integers(0, 2, batch).astype(np.int32)})
    return batches


def setup(what: str):
    if what == "minilm":
        config = BertConfig.preset("minilm-l6")
        return (BertWithHead(config, SequenceClassificationHead(config, 2)), finetune_bench._Classification(),
                minilm_batches())
    config = BertConfig.preset("base")
    lengths = pretrain_bench.example_lengths(np.random.default_rng(0), 8, 128, 0.0)
    return (BertWithHead(config, PretrainingHeads(config)), PretrainingStep(),
            [pretrain_bench.padded_batch(config, lengths, 128)])


def prepared(what: str):
    """(model, task, optimizer, batches on the device) of ``setup(what)``, as every step A/B runs them."""
    model, task, batches = setup(what)
    device_batches = [jax.device_put({k: jnp.asarray(v) for k, v in b.items()}) for b in batches]
    return model, task, create_optimizer("adamw", 2e-5), device_batches


def compile_variants(model, task, tx, device_batches: list, patches: dict) -> tuple[dict, dict, dict]:
    """Each variant's train step, compiled twice (its patch applied before tracing), the second kept, each with
    its own fresh state: (compiled steps, states, compile seconds) by variant name."""
    example = {k: v[:1] for k, v in device_batches[0].items()}
    init = jax.jit(lambda rng: nn.unbox(create_state(rng, model=model, tx=tx, example=example, task=task)))
    steps, states, compiles = {}, {}, {name: [] for name in patches}
    for _ in range(2):
        for name, patch in patches.items():
            patch()  # read when the step is traced
            states[name] = init(jax.random.PRNGKey(0))
            step = jax.jit(functools.partial(train_step, model=model, task=task, tx=tx), donate_argnums=0)
            start = time.perf_counter()
            steps[name] = step.lower(states[name], device_batches[0]).compile()
            compiles[name].append(time.perf_counter() - start)
    return steps, states, compiles


def interleaved_rounds(steps: dict, states: dict, device_batches: list, rounds: int) -> tuple[dict, dict]:
    """Seconds per step of each variant in ``rounds`` rounds (all batches once per round), alternating which goes
    first; and each variant's last loss."""
    times, losses = {name: [] for name in steps}, {}
    for r in range(rounds):
        for name in list(steps) if r % 2 == 0 else list(steps)[::-1]:
            start = time.perf_counter()
            for b in device_batches:
                states[name], metrics = steps[name](states[name], b)
            jax.block_until_ready(metrics["loss"])
            times[name].append((time.perf_counter() - start) / len(device_batches))
            losses[name] = float(metrics["loss"])
        print(r, {k: round(v[-1] * 1e3) for k, v in times.items()}, flush=True)
    return times, losses


def report(times: dict, new: str, old: str) -> None:
    """Medians (the first round left out) and the paired ratio new/old."""
    for name, ts in times.items():
        print(f"{name}: median {np.median(ts[1:]) * 1e3:.1f} ms")
    ratio = np.array(times[new][1:]) / np.array(times[old][1:])
    print(f"paired {new}/{old}: median {np.median(ratio):.3f}, quartiles "
          f"{np.percentile(ratio, 25):.3f}-{np.percentile(ratio, 75):.3f}")


def main() -> None:
    what, rounds = sys.argv[1], int(sys.argv[2])
    model, task, tx, device_batches = prepared(what)
    patches = {name: functools.partial(setattr, dropout, "random_draws", draw) for name, draw in VARIANTS.items()}
    steps, states, compiles = compile_variants(model, task, tx, device_batches, patches)
    print("compile s:", {k: [round(x, 2) for x in v] for k, v in compiles.items()}, flush=True)
    times, _ = interleaved_rounds(steps, states, device_batches, rounds)
    report(times, "interleaved", "concatenated")


if __name__ == "__main__":
    main()

"""What a MiniLM fine-tuning train step's compile costs, by part: the step compiled as it is, with other key
implementations (dropout's draws from jax.random.bits) and without dropout (hidden and attention-probability
rates 0), at one width, variants alternating, fresh jit each time (no persistent cache). Prices only: the
variants without dropout are not the model.

    JAX_PLATFORMS=cpu python experiments/2026-12-07-step-compile/compile_parts.py [rounds] [width]
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "2026-12-06-dropout-draws"))
import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402
from step_ab import minilm_batches  # noqa: E402

from bert_jax import step  # noqa: E402
from bert_jax.bench import finetune_bench  # noqa: E402
from bert_jax.models.config import BertConfig  # noqa: E402
from bert_jax.models.heads import BertWithHead, SequenceClassificationHead  # noqa: E402
from bert_jax.optim import create_optimizer  # noqa: E402

BASE = BertConfig.preset("minilm-l6")
VARIANTS = {
    "as is": BASE,
    "rbg keys": BASE,
    "unsafe_rbg keys": BASE,
    "no attention dropout": dataclasses.replace(BASE, attention_probs_dropout_prob=0.0),
    "no dropout": dataclasses.replace(BASE, attention_probs_dropout_prob=0.0, hidden_dropout_prob=0.0),
}


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    width = int(sys.argv[2]) if len(sys.argv) > 2 else 88
    tx = create_optimizer("adamw", 2e-5)
    task = finetune_bench._Classification()
    batch = minilm_batches(1, width)[0]
    example = {k: v[:1] for k, v in batch.items()}
    seconds = {name: {"trace+lower": [], "compile": []} for name in VARIANTS}
    for r in range(rounds):
        for name in list(VARIANTS) if r % 2 == 0 else list(VARIANTS)[::-1]:
            config = VARIANTS[name]
            jax.config.update("jax_default_prng_impl", name.split()[0] if name.endswith("keys") else "threefry2x32")
            model = BertWithHead(config, SequenceClassificationHead(config, 2))
            state = jax.eval_shape(lambda rng, model=model: nn.unbox(step.create_state(
                rng, model=model, tx=tx, example=example, task=task)), jax.random.PRNGKey(0))
            train_step = jax.jit(functools.partial(step.train_step, model=model, task=task, tx=tx),
                                 donate_argnums=0)
            start = time.perf_counter()
            lowered = train_step.trace(state, batch).lower()
            traced = time.perf_counter()
            lowered.compile()
            seconds[name]["trace+lower"].append(traced - start)
            seconds[name]["compile"].append(time.perf_counter() - traced)
            print(f"round {r} {name}: trace+lower {traced - start:.2f} s, compile {seconds[name]['compile'][-1]:.2f} s",
                  flush=True)
    for name, parts in seconds.items():
        print(f"{name}: medians", {part: round(float(np.median(v)), 2) for part, v in parts.items()})


if __name__ == "__main__":
    main()

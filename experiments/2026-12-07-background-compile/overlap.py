"""Can a MiniLM fine-tuning run compile its other batch widths while it trains, on a 2-core CPU?

Per round, in one process: (a) K train steps at width 88 alone; (b) the train step compiled for three other
widths one after the other, alone; (c) the same K steps while a background thread compiles three further widths
(lowered on the main thread first, as a trainer would). What overlapping saves = (a) + (b) - (c).

    JAX_PLATFORMS=cpu python experiments/2026-12-07-background-compile/overlap.py [ROUNDS] [K]
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "2026-12-06-dropout-draws"))
import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from step_ab import minilm_batches, setup  # noqa: E402

from bert_jax.optim import create_optimizer  # noqa: E402
from bert_jax.step import create_state, train_step  # noqa: E402


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 12
    model, task, _ = setup("minilm")
    tx = create_optimizer("adamw", 2e-5)
    batches = [jax.device_put({n: jnp.asarray(v) for n, v in b.items()}) for b in minilm_batches(2, 88)]
    example = {n: v[:1] for n, v in batches[0].items()}
    state = jax.jit(lambda rng: nn.unbox(create_state(rng, model=model, tx=tx, example=example, task=task)))(
        jax.random.PRNGKey(0))
    jitted = jax.jit(functools.partial(train_step, model=model, task=task, tx=tx), donate_argnums=0)
    step88 = jitted.lower(state, batches[0]).compile()
    fresh_widths = iter(range(32, 400, 8))  # each compile a width not compiled before: no in-memory cache hit

    def lowered_widths(n):
        return [jitted.trace(state, minilm_batches(1, next(fresh_widths))[0]).lower() for _ in range(n)]

    def run_steps(state):
        for i in range(k):
            state, metrics = step88(state, batches[i % 2])
        jax.block_until_ready(metrics)
        return state

    for r in range(rounds):
        state = run_steps(state)  # warm
        start = time.perf_counter()
        state = run_steps(state)
        alone = time.perf_counter() - start
        lowered = lowered_widths(3)
        start = time.perf_counter()
        for lw in lowered:
            lw.compile()
        compiles = time.perf_counter() - start
        lowered = lowered_widths(3)
        start = time.perf_counter()
        worker = threading.Thread(target=lambda pending=lowered: [lw.compile() for lw in pending])
        worker.start()
        state = run_steps(state)
        steps_done = time.perf_counter() - start
        worker.join()
        both = time.perf_counter() - start
        print(f"round {r}: {k} steps alone {alone:.1f} s, 3 compiles alone {compiles:.1f} s, "
              f"sum {alone + compiles:.1f} s; overlapped {both:.1f} s (steps done at {steps_done:.1f} s): "
              f"saves {alone + compiles - both:.1f} s",
              flush=True)


if __name__ == "__main__":
    main()

"""glibc malloc settings against a MiniLM train step's compile time and its page faults per step, one fresh
process per setting (mallopt must come before JAX starts its threads).

    JAX_PLATFORMS=cpu python experiments/2026-12-07-step-compile/malloc_settings.py SETTING
    SETTING: default | one_arena (host_memory.keep_freed_memory: one arena, no mmap, no trim) | arenas (no mmap,
    no trim, glibc's arenas)
"""

from __future__ import annotations

import ctypes
import functools
import os
import resource
import sys
import time

_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8
STEPS = 24
SETTINGS = {"default": (), "one_arena": ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, -1)),
            "arenas": ((_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, -1))}


def main() -> None:
    setting = sys.argv[1]
    libc = ctypes.CDLL(None)
    assert all(libc.mallopt(p, v) == 1 for p, v in SETTINGS[setting])
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "2026-12-06-dropout-draws"))
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    import numpy as np
    from step_ab import minilm_batches, setup

    from bert_jax.optim import create_optimizer
    from bert_jax.step import create_state, train_step

    model, task, _ = setup("minilm")
    batches = [jax.device_put({k: jnp.asarray(v) for k, v in b.items()}) for b in minilm_batches(4, 88)]
    tx = create_optimizer("adamw", 2e-5)
    example = {k: v[:1] for k, v in minilm_batches(1, 88)[0].items()}
    state = jax.jit(lambda r: nn.unbox(create_state(r, model=model, tx=tx, example=example, task=task)))(
        jax.random.PRNGKey(0))
    step = jax.jit(functools.partial(train_step, model=model, task=task, tx=tx), donate_argnums=0)
    start = time.perf_counter()
    compiled = step.lower(state, batches[0]).compile()
    compile_s = time.perf_counter() - start
    state, m = compiled(state, batches[0])
    jax.block_until_ready(m)
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    times = []
    for i in range(STEPS):
        t = time.perf_counter()
        state, m = compiled(state, batches[i % 4])
        jax.block_until_ready(m["loss"])
        times.append(time.perf_counter() - t)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0) / STEPS
    print(f"{setting}: compile {compile_s:.2f} s, step median {np.median(times) * 1e3:.0f} ms, "
          f"{faults:.0f} minor faults per step", flush=True)


if __name__ == "__main__":
    main()

"""What a checkpoint of a MiniLM-sized train state (params + two Adam moments, ~270 MB float32 in ~100 arrays)
costs to save and restore with Orbax, with its default zstd compression and without; 3 rounds, alternating.

    JAX_PLATFORMS=cpu python experiments/2026-12-07-step-compile/save_cost.py
"""

import os
import shutil
import time

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

RNG = np.random.default_rng(0)
# MiniLM's shapes: the word embeddings, six layers' products, the positions.
SHAPES = [(30522, 384)] + [(384, 1536), (1536, 384), (384, 384), (384, 384), (384, 384), (384, 384)] * 6 + [(512, 384)]


def main() -> None:
    state = {part: {str(i): jnp.asarray(RNG.standard_normal(s, np.float32) * 0.02) for i, s in enumerate(SHAPES)}
             for part in ("params", "mu", "nu")}
    print(sum(x.size for x in jax.tree_util.tree_leaves(state)) * 4 / 1e6, "MB")
    for _ in range(3):
        for compression in (True, False):
            directory = f"/tmp/save_cost_{compression}"
            shutil.rmtree(directory, ignore_errors=True)
            with ocp.PyTreeCheckpointer(use_compression=compression) as checkpointer:
                start = time.perf_counter()
                checkpointer.save(directory + "/x", state)
                save = time.perf_counter() - start
            size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(directory) for f in files)
            start = time.perf_counter()
            with ocp.PyTreeCheckpointer() as checkpointer:
                checkpointer.restore(directory + "/x")
            print(f"compression={compression}: save {save:.2f} s, restore {time.perf_counter() - start:.2f} s, "
                  f"{size / 1e6:.0f} MB")


if __name__ == "__main__":
    main()

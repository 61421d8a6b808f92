"""Copies and transposes in the compiled BERT-base pretraining step (bench pretrain's program), grouped by
shape and source op, with the old products (``old``) or today's.

    JAX_PLATFORMS=cpu python experiments/2026-12-07-token-axis/hlo_copies.py [old|new]
"""

from __future__ import annotations

import collections
import pathlib
import re
import sys

import jax
import numpy as np

from bert_jax.bench.pretrain_bench import example_lengths, padded_batch

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from old_products import old_products  # noqa: E402

BYTES = {"f32": 4, "s32": 4, "u32": 4, "pred": 1, "bf16": 2, "u8": 1}


def step_hlo() -> str:
    """The optimised HLO of step_variants.py's BERT-base step (dropout 0.1, AdamW)."""
    import functools

    import flax.linen as nn
    import jax.numpy as jnp

    from bert_jax.models.config import BertConfig
    from bert_jax.models.heads import BertWithHead, PretrainingHeads
    from bert_jax.optim import create_optimizer
    from bert_jax.step import create_state, train_step
    from bert_jax.tasks.pretrain import PretrainingStep

    config = BertConfig.preset("base", dtype="float32", attention_implementation="xla")
    model, task, tx = BertWithHead(config, PretrainingHeads(config)), PretrainingStep(), create_optimizer("adamw", 1e-4)
    lengths = example_lengths(np.random.default_rng(0), 8, 128, 0.0)
    batch = {k: jnp.asarray(v) for k, v in padded_batch(config, lengths, 128).items()}
    example = {k: v[:1] for k, v in batch.items()}
    state = jax.eval_shape(lambda r: nn.unbox(create_state(r, model=model, tx=tx, example=example, task=task)),
                           jax.random.PRNGKey(0))
    step = jax.jit(functools.partial(train_step, model=model, task=task, tx=tx), donate_argnums=0)
    return step.lower(state, batch).compile().as_text()


def nbytes(shape: str) -> int:
    total = 0
    for dtype, dims in re.findall(r"(f32|s32|u32|pred|bf16|u8)\[([0-9,]*)\]", shape):
        total += int(np.prod([int(d) for d in dims.split(",") if d])) * BYTES[dtype]
    return total


def main() -> None:
    with old_products(sys.argv[1:] == ["old"]):
        text = step_hlo()
    entry = next(c for c in re.split(r"\n(?=\S)", text) if c.startswith("ENTRY"))
    groups = collections.defaultdict(lambda: [0, 0])
    for line in entry.splitlines():
        match = re.match(r"\s*(?:ROOT )?%(\S+) = (\S+) ", line)
        if not match or not match.group(1).startswith(("copy", "transpose")):
            continue
        op = re.search(r'op_name="([^"]*)"', line)
        op = re.sub(r"layer_\d+", "layer_N", op.group(1) if op else "?")
        key = (match.group(2).split("{")[0], op[-80:])
        groups[key][0] += 1
        groups[key][1] += nbytes(match.group(2))
    for (shape, op), (count, size) in sorted(groups.items(), key=lambda kv: -kv[1][1]):
        if size > 1e6:
            print(f"{size / 1e6:8.1f} MB x{count:3d} {shape:22s} {op}")
    print(f"copies and transposes: {sum(size for _, size in groups.values()) / 1e6:.1f} MB written per step")


if __name__ == "__main__":
    main()

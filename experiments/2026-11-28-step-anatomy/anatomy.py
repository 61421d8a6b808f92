"""What the BERT-base pretraining step computes besides matmuls, counted on its jaxpr (before XLA fuses
anything, so the same on every backend): elements produced per primitive, random words drawn, converts
between fp32 and bf16, and every scatter with its shape. CPU only, no compile.

    python experiments/2026-11-28-step-anatomy/anatomy.py [--size=base --batch=256 --seq=128 --top=30]

The step is bench pretrain's (AdamW, bf16 compute, fp32 params, hidden dropout 0.1, no attention dropout as
with the fused attention kernels) at issue 17's shape.
"""

from __future__ import annotations

import argparse
import collections
import functools

import flax.linen as nn
import jax
import numpy as np

from bert_jax.bench.pretrain_bench import example_lengths, padded_batch
from bert_jax.models.bert import BertConfig
from bert_jax.models.heads import BertWithHead, PretrainingHeads
from bert_jax.optim import create_optimizer
from bert_jax.step import create_state, train_step
from bert_jax.tasks.pretrain import PretrainingStep


def equations(jaxpr):
    """Every equation, descending into the sub-jaxprs of jit, custom_vjp, remat, ..."""
    for eqn in jaxpr.eqns:
        for param in eqn.params.values():
            inner = getattr(param, "jaxpr", param)
            if hasattr(inner, "eqns"):
                yield from equations(inner)
        yield eqn


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="base")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    config = BertConfig.preset(args.size, dtype="bfloat16", attention_probs_dropout_prob=0.0)
    model, task, tx = BertWithHead(config, PretrainingHeads(config)), PretrainingStep(), create_optimizer("adamw", 1e-4)
    batch = padded_batch(config, example_lengths(np.random.default_rng(0), args.batch, args.seq, 0.0), args.seq)
    example = {k: v[:1] for k, v in batch.items()}
    state = jax.eval_shape(lambda r: nn.unbox(create_state(r, model=model, tx=tx, example=example, task=task)),
                           jax.random.PRNGKey(0))
    jaxpr = jax.make_jaxpr(functools.partial(train_step, model=model, task=task, tx=tx))(state, batch).jaxpr
    calls, elements, scatters = collections.Counter(), collections.Counter(), []
    for eqn in equations(jaxpr):
        name, out = eqn.primitive.name, eqn.outvars[0].aval
        if name in ("jit", "pjit", "custom_vjp_call", "custom_jvp_call", "checkpoint", "remat"):
            continue  # their equations are counted inside
        if name == "convert_element_type":
            name = f"convert {eqn.invars[0].aval.dtype}->{out.dtype}"
        if name.startswith("scatter"):
            scatters.append(f"{name} into {out.dtype}{list(out.shape)}")
        calls[name] += 1
        elements[name] += int(np.prod(out.shape)) if hasattr(out, "shape") else 0
    print(f"BERT-{args.size} pretraining step, batch {args.batch} x seq {args.seq}, bf16 compute: "
          f"primitives by elements produced (M)")
    for name in sorted(calls, key=lambda n: -elements[n])[: args.top]:
        print(f"  {name:32s} {calls[name]:6d} calls {elements[name] / 1e6:10.1f} M")
    print("scatters:", *sorted(collections.Counter(scatters).items()), sep="\n  ")


if __name__ == "__main__":
    main()

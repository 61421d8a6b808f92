"""In-process A/B of the optimizer update alone (step._update_if_finite: the clip, AdamW, weight decay, the
learning rate, inside the cond that skips non-finite steps), on a model's real param shapes: the clip as it was
(optax's arithmetic: each gradient divided by the norm, then a select) against the scalar factor, with an A/A
copy of each. Gradients of norm ~10, so the clip is taken. Compiled HLO: fusions and their bytes.

    JAX_PLATFORMS=cpu python experiments/2026-12-07-optimizer-clip/update_ab.py minilm-l6 30
    JAX_PLATFORMS=cpu python experiments/2026-12-07-optimizer-clip/update_ab.py base 20
"""

from __future__ import annotations

import sys
import time

from bert_jax import host_memory

host_memory.keep_freed_memory()  # as the CLI's train loop runs

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from bert_jax import optim, step  # noqa: E402
from bert_jax.models.config import BertConfig  # noqa: E402
from bert_jax.models.heads import BertWithHead, PretrainingHeads, SequenceClassificationHead  # noqa: E402


def divide_and_select_clip(max_norm: float, given_norm: bool = True):
    """The clip before 2026-12-07: optax.clip_by_global_norm's arithmetic, the caller's norm."""

    def update(updates, state, params=None, *, grad_norm=None, **extra_args):
        norm = grad_norm if given_norm and grad_norm is not None else optax.tree.norm(updates)
        trigger = jnp.squeeze(norm < max_norm)
        return jax.tree_util.tree_map(lambda t: jax.lax.select(trigger, t, (t / norm) * max_norm), updates), state

    return optax.GradientTransformationExtraArgs(optax.init_empty_state, update)


def params_of(size: str):
    config = BertConfig.preset(size)
    head = SequenceClassificationHead(config, 2) if size == "minilm-l6" else PretrainingHeads(config)
    model = BertWithHead(config, head)
    example = {"input_ids": jnp.ones((1, 8), jnp.int32), "token_type_ids": jnp.zeros((1, 8), jnp.int32),
               "attention_mask": jnp.ones((1, 8), jnp.int32)}
    return nn.unbox(jax.jit(model.init)(jax.random.PRNGKey(0), **example)["params"])


def fusion_counts(compiled) -> tuple[int, int]:
    """(loop fusions, f32 arrays they name: operands and results) in the compiled update: a rough traffic count."""
    text = compiled.as_text()
    fusions = [line for line in text.splitlines() if " fusion(" in line and "kind=kLoop" in line]
    return len(fusions), sum(line.count("f32[") for line in fusions)


def main() -> None:
    size, rounds = sys.argv[1], int(sys.argv[2])
    params = params_of(size)
    keys = jax.random.split(jax.random.PRNGKey(1), len(jax.tree_util.tree_leaves(params)))
    leaves, treedef = jax.tree_util.tree_flatten(params)
    grads = jax.tree_util.tree_unflatten(
        treedef, [jax.random.normal(k, p.shape) * 1e-2 for k, p in zip(keys, leaves, strict=True)])
    grad_norm = optax.global_norm(grads)
    print(f"{size}: {sum(p.size for p in leaves) / 1e6:.1f}M params, gradient norm {float(grad_norm):.2f}")
    variants = {}
    for name, clip in (("before", divide_and_select_clip), ("before_copy", divide_and_select_clip),
                       ("after", optim.clip_by_global_norm), ("after_copy", optim.clip_by_global_norm)):
        original = optim.clip_by_global_norm
        optim.clip_by_global_norm = clip
        tx = optim.create_optimizer("adamw", 1e-3)  # a constant rate: the first update moves
        optim.clip_by_global_norm = original
        fn = jax.jit(lambda p, s, g, n, tx=tx: step._update_if_finite(p, s, g, n, jnp.bool_(True), None,
                                                                        tx=step._Hashed(tx)), donate_argnums=(0, 1))
        state = (jax.tree_util.tree_map(jnp.copy, params), tx.init(params))
        compiled = fn.lower(*state, grads, grad_norm).compile()
        variants[name] = [compiled, state]
        print(name, "loop fusions, f32 operands+results:", fusion_counts(compiled), flush=True)
    out = {}
    for name, (compiled, state) in variants.items():
        out[name] = compiled(*state, grads, grad_norm)
        variants[name][1] = out[name]
    for part, label in ((0, "params"), (1, "optimizer state")):
        pairs = list(zip(jax.tree_util.tree_leaves(out["before"][part]), jax.tree_util.tree_leaves(out["after"][part]),
                         strict=True))
        absolute = max(float(jnp.max(jnp.abs(x - y))) for x, y in pairs)
        ulps = max(float(jnp.max(jnp.abs(x - y) / jnp.spacing(jnp.maximum(jnp.abs(x), 1e-30)))) for x, y in pairs)
        print(f"{label} after one update, before vs after: at most {absolute:.3g} apart, {ulps:.0f} ulp")
    times = {name: [] for name in variants}
    order = list(variants)
    for r in range(rounds):
        for name in order if r % 2 == 0 else order[::-1]:
            compiled, state = variants[name]
            start = time.perf_counter()
            state = compiled(*state, grads, grad_norm)
            jax.block_until_ready(state)
            times[name].append(time.perf_counter() - start)
            variants[name][1] = state
    for name, ts in times.items():
        print(f"{name}: median {np.median(ts[2:]) * 1e3:.2f} ms (quartiles {np.percentile(ts[2:], 25) * 1e3:.2f}-"
              f"{np.percentile(ts[2:], 75) * 1e3:.2f})")
    for new, old in (("after", "before"), ("before_copy", "before"), ("after_copy", "after")):
        ratio = np.array(times[new][2:]) / np.array(times[old][2:])
        print(f"paired {new}/{old}: median {np.median(ratio):.3f}, quartiles {np.percentile(ratio, 25):.3f}-"
              f"{np.percentile(ratio, 75):.3f}")


if __name__ == "__main__":
    main()

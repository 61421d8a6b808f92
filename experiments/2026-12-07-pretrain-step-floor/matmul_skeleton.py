"""The BERT-base pretraining step's matmuls alone: forward and backward of a linear chain with the step's
product shapes (per layer the QKV product, the two attention products, the output projection, the FFN's two;
the tied MLM decoder at the gathered positions) and nothing else: no softmax, LayerNorm, GELU, dropout, bias,
loss or update. Its time is the floor the matmuls set for `bench pretrain --size=base --seq=128 --batch=8`.

    JAX_PLATFORMS=cpu python experiments/2026-12-07-pretrain-step-floor/matmul_skeleton.py [repeats]
"""

from __future__ import annotations

import sys

from bert_jax import host_memory

host_memory.keep_freed_memory()  # as the benchmarks run

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from bert_jax.bench.timing import median_seconds  # noqa: E402

BATCH, SEQ, HIDDEN, FFN, LAYERS, HEADS, VOCAB = 8, 128, 768, 3072, 12, 12, 30522
PREDICTIONS = 152  # bench pretrain's 19 masked positions per sequence × 8
HEAD_DIM = HIDDEN // HEADS


def init_params(key):
    keys = iter(jax.random.split(key, 4 * LAYERS + 1))

    def normal(shape):
        return jax.random.normal(next(keys), shape) * 0.02

    layers = [{"qkv": normal((HIDDEN, 3 * HIDDEN)), "out": normal((HIDDEN, HIDDEN)),
               "ffn_in": normal((HIDDEN, FFN)), "ffn_out": normal((FFN, HIDDEN))} for _ in range(LAYERS)]
    return {"layers": layers, "word_embeddings": normal((VOCAB, HIDDEN))}


def heads_first(x):
    """[tokens, hidden] → [batch, heads, seq, head_dim], as the model's xla attention lays them out."""
    return x.reshape(BATCH, SEQ, HEADS, HEAD_DIM).transpose(0, 2, 1, 3)


def loss(params, x):
    """x [tokens, hidden] through the chain; a scalar so jax.grad gives every product's backward."""
    for layer in params["layers"]:
        query, key, value = (heads_first(t) for t in jnp.split(x @ layer["qkv"], 3, axis=-1))
        scores = jnp.einsum("bhqd,bhkd->bhqk", query, key) * 0.01
        context = jnp.einsum("bhqk,bhkd->bhqd", scores, value).transpose(0, 2, 1, 3).reshape(-1, HIDDEN)
        attended = context @ layer["out"] + x
        x = (attended @ layer["ffn_in"]) @ layer["ffn_out"] + attended
    return jnp.sum(x[:PREDICTIONS] @ params["word_embeddings"].T)


def step_flops() -> int:
    tokens = BATCH * SEQ
    dense = 2 * tokens * HIDDEN * (3 * HIDDEN + HIDDEN + 2 * FFN)
    attention = 2 * 2 * BATCH * HEADS * SEQ * SEQ * HEAD_DIM
    return 3 * (LAYERS * (dense + attention) + 2 * PREDICTIONS * HIDDEN * VOCAB)  # forward + two backward products


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    params = init_params(jax.random.PRNGKey(0))
    x = jax.random.normal(jax.random.PRNGKey(1), (BATCH * SEQ, HIDDEN))
    grad = jax.jit(jax.grad(loss))
    seconds = median_seconds(lambda: jax.block_until_ready(grad(params, x)), repeats, warmup=2)
    print(f"matmul skeleton of the BERT-base pretraining step (8 × 128), forward + backward: median "
          f"{1e3 * seconds:.0f} ms over {repeats} (max/min {seconds.spread:.2f}x); {step_flops() / 1e9:.0f} GFLOP, "
          f"{step_flops() / seconds / 1e9:.0f} GFLOP/s")

if __name__ == "__main__":
    main()

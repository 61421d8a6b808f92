"""Dense layers contract one token axis (models/bert.py `token_product`): in the compiled train step the kernel
gradients read the activation gradients as they are, with no transposed copy. A contraction over two leading
axes (batch and seq) made XLA:CPU materialise the FFN's [tokens, intermediate] gradient as [intermediate,
tokens] in every layer (docs/performance.md, sixteenth pass). The positive control compiles that old form."""

import functools
import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from bert_jax.models.bert import BertConfig, token_product
from bert_jax.models.heads import BertWithHead, PretrainingHeads
from bert_jax.optim import create_optimizer
from bert_jax.step import create_state, train_step
from bert_jax.tasks.pretrain import PretrainingStep

CONFIG = BertConfig.preset("tiny", vocab_size=700, max_position_embeddings=64)  # hidden 128, FFN 512
BATCH, SEQ = 8, 32


def feature_major(hlo_text: str, features: int, tokens: int) -> list[str]:
    """Instructions whose f32 result is [features, tokens]: an activation transposed feature-major."""
    pattern = re.compile(rf"= f32\[{features},{tokens}\]")
    return [line.strip()[:200] for line in hlo_text.splitlines() if pattern.search(line)]


def _train_step_hlo() -> str:
    model, task, tx = BertWithHead(CONFIG, PretrainingHeads(CONFIG)), PretrainingStep(), create_optimizer("adamw", 1e-4)
    rng = np.random.default_rng(0)
    ids = jnp.asarray(rng.integers(5, CONFIG.vocab_size, (BATCH, SEQ)), jnp.int32)
    batch = {"input_ids": ids, "token_type_ids": jnp.zeros_like(ids), "attention_mask": jnp.ones_like(ids),
             "masked_lm_positions": jnp.tile(jnp.arange(1, 6), (BATCH, 1)), "masked_lm_ids": ids[:, 1:6],
             "masked_lm_weights": jnp.ones((BATCH, 5)), "next_sentence_label": jnp.zeros(BATCH, jnp.int32)}
    example = {k: v[:1] for k, v in batch.items()}
    state = jax.eval_shape(lambda r: nn.unbox(create_state(r, model=model, tx=tx, example=example, task=task)),
                           jax.random.PRNGKey(0))
    step = jax.jit(functools.partial(train_step, model=model, task=task, tx=tx), donate_argnums=0)
    return step.lower(state, batch).compile().as_text()


def _ffn_gradient_hlo(product) -> str:
    """Gradients of a GELU FFN on [batch, seq, hidden] whose two dense products are ``product``."""
    x = jnp.ones((BATCH, SEQ, CONFIG.hidden_size))
    w1 = jnp.ones((CONFIG.hidden_size, CONFIG.intermediate_size))
    w2 = jnp.ones((CONFIG.intermediate_size, CONFIG.hidden_size))

    def loss(w1, w2, x):
        return jnp.sum(product(jax.nn.gelu(product(x, w1)), w2) ** 2)

    return jax.jit(jax.grad(loss, argnums=(0, 1))).lower(w1, w2, x).compile().as_text()


def test_train_step_never_transposes_the_ffn_activation_gradient():
    hlo = _train_step_hlo()
    assert not feature_major(hlo, CONFIG.intermediate_size, BATCH * SEQ)
    # The same check on the FFN alone, written with token_product: clean too.
    assert not feature_major(_ffn_gradient_hlo(token_product), CONFIG.intermediate_size, BATCH * SEQ)


def test_the_detector_finds_the_copy_of_a_two_axis_contraction():
    """Positive control: the [batch, seq] · kernel product (jnp.tensordot on the 3-D activation, the old
    DenseGeneral) compiles its kernel gradient through a [intermediate, tokens] copy."""
    hlo = _ffn_gradient_hlo(lambda x, w: jnp.tensordot(x, w, axes=1))
    assert feature_major(hlo, CONFIG.intermediate_size, BATCH * SEQ)


def test_token_product_equals_tensordot():
    """Same values as the plain tensordot for one and two contracted axes (attention's output kernel)."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((3, 5, 4, 6)), jnp.float32)
    for axes, kernel_shape in ((1, (6, 7)), (2, (4, 6, 7))):
        kernel = jnp.asarray(rng.standard_normal(kernel_shape), jnp.float32)
        expected = np.tensordot(np.asarray(x, np.float64), np.asarray(kernel, np.float64), axes=axes)
        got = token_product(x, kernel, axes)
        assert got.shape == expected.shape
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-5)

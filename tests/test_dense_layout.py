"""Dense layers contract one token axis (models/bert.py `token_product`): in the compiled train step the kernel
gradients read the activation gradients as they are, with no transposed copy. A contraction over two leading
axes (batch and seq) made XLA:CPU materialise the FFN's [tokens, intermediate] gradient as [intermediate,
tokens] in every layer (docs/performance.md, sixteenth pass). The positive control compiles that old form."""

import re

import jax
import jax.numpy as jnp
import numpy as np

from bert_jax.models.bert import BertConfig, token_product
from tests.test_embeddings import compiled_train_step_hlo

CONFIG = BertConfig.preset("tiny", vocab_size=700, max_position_embeddings=64)  # hidden 128, FFN 512
BATCH, SEQ = 8, 32  # compiled_train_step_hlo's batch


def feature_major(hlo_text: str, features: int, tokens: int) -> list[str]:
    """Instructions whose f32 result is [features, tokens]: an activation transposed feature-major."""
    pattern = re.compile(rf"= f32\[{features},{tokens}\]")
    return [line.strip()[:200] for line in hlo_text.splitlines() if pattern.search(line)]


def _ffn_gradient_hlo(product) -> str:
    """Gradients of a GELU FFN on [batch, seq, hidden] whose two dense products are ``product``."""
    x = jnp.ones((BATCH, SEQ, CONFIG.hidden_size))
    w1 = jnp.ones((CONFIG.hidden_size, CONFIG.intermediate_size))
    w2 = jnp.ones((CONFIG.intermediate_size, CONFIG.hidden_size))

    def loss(w1, w2, x):
        return jnp.sum(product(jax.nn.gelu(product(x, w1)), w2) ** 2)

    return jax.jit(jax.grad(loss, argnums=(0, 1))).lower(w1, w2, x).compile().as_text()


def test_train_step_never_transposes_the_ffn_activation_gradient():
    hlo = compiled_train_step_hlo(CONFIG, packed=False)
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

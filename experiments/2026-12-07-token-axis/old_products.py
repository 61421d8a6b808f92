"""The dense products as they were before 3f44399, for in-process A/Bs: ``old_products()`` is a context in which
models/bert.py's dense layers contract the 3-D activation directly (jnp.tensordot over [batch, seq, in]) and the
MLM head's logits are one [batch, n, hidden] · [vocab, hidden] einsum. Programs traced inside it are the old ones."""

from __future__ import annotations

import contextlib

import flax.linen as nn
import jax.numpy as jnp

import bert_jax.models.bert as bert
import bert_jax.models.heads as heads


def _tensordot(x, kernel, num_in_axes=1):
    return jnp.tensordot(x, kernel, axes=num_in_axes)


class _OldMaskedLMHead(heads.MaskedLMHead):
    @nn.compact
    def __call__(self, encoder_out, masked_positions=None):
        cfg = self.config
        x = encoder_out.sequence_output
        if masked_positions is not None:
            x = heads.gather_positions(x, masked_positions)
        x = heads._MlmTransform(cfg, name="transform")(x)
        bias = self.param("bias", heads.param_init(cfg, ("vocab",), "zeros"), (cfg.vocab_size,), cfg.params_dtype)
        table = encoder_out.word_embeddings.astype(cfg.compute_dtype)
        logits = jnp.einsum("bnh,vh->bnv", x, table) + bias.astype(cfg.compute_dtype)
        return nn.with_logical_constraint(logits, ("act_batch", "act_len", "act_vocab"))


@contextlib.contextmanager
def old_products(enabled: bool = True):
    """Inside: the old products (when ``enabled``). Trace (jit-lower) the program inside the context."""
    saved = bert.token_product, heads.MaskedLMHead
    if enabled:
        bert.token_product, heads.MaskedLMHead = _tensordot, _OldMaskedLMHead
    try:
        yield
    finally:
        bert.token_product, heads.MaskedLMHead = saved

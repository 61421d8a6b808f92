"""Dropout with 16-bit draws: four mask elements from one threefry hash instead of one.

``jax.random.bernoulli`` (what ``nn.Dropout`` calls) draws a 32-bit word per element, and with JAX's
partitionable threefry every word costs a whole threefry2x32 hash whose two output words are XORed into one.
Dropout masks are most of the random bits of a training step (BERT-base at batch 8: 39M elements per step),
and on CPU those hashes cost ~9% of the step (docs/performance.md). Here each hash's two 32-bit outputs are
kept and cut into four 16-bit draws, so a mask needs a quarter of the hashes. The four draws of a hash are
neighbours on the mask's last axis: XLA fuses the mask into one loop whose code holds one hash (how often a fused
loop evaluates each hash is XLA's choice; docs/performance.md, ninth pass, has the measurements).

The distribution: an element is kept when its 16-bit draw is >= round(rate * 65536), i.e. with probability
``keep_probability(rate)`` = 1 - round(rate * 65536) / 65536 (rate 0.1 → drops 0.1000061 of the elements, a
difference no test over a whole BERT-base step's 39M elements could detect: the binomial standard error is
4.8e-5), and kept elements are scaled by exactly 1 / keep_probability so the expectation is x, as in HF and
flax. Draws of distinct elements are distinct 16-bit fields of threefry outputs, which are independent to
any statistical test threefry passes. Keys of other implementations (rbg, unsafe_rbg) draw 32-bit words
with ``jax.random.bits`` and cut each into two draws.

The hash counters keep the mask's shape (the last axis divided by four), so like JAX's own partitionable
threefry the draws shard with the activations: no device computes another device's mask.
"""

from __future__ import annotations

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

DRAW_BITS = 16
_DRAW_VALUES = 1 << DRAW_BITS


def _drop_threshold(rate: float) -> int:
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout rate must be in [0, 1); got {rate}")
    return round(rate * _DRAW_VALUES)


def keep_probability(rate: float) -> float:
    """The exact probability that an element survives dropout at ``rate`` (rate rounded to 1/65536)."""
    return 1.0 - _drop_threshold(rate) / _DRAW_VALUES


def _flat_counters(shape: tuple[int, ...]) -> jax.Array:
    """uint32 array of ``shape`` holding each element's row-major index."""
    strides = [math.prod(shape[i + 1:]) for i in range(len(shape))]
    index = jnp.zeros(shape, jnp.uint32)
    for axis, stride in enumerate(strides):
        index = index + jax.lax.broadcasted_iota(jnp.uint32, shape, axis) * jnp.uint32(stride)
    return index


_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def threefry2x32(k1: jax.Array, k2: jax.Array, x0: jax.Array, x1: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Threefry-2x32, 20 rounds (Salmon et al. 2011), as plain uint32 jnp ops: bit for bit JAX's
    ``threefry2x32_p`` (tests/test_dropout.py), but always unrolled.

    On CPU JAX lowers the primitive as a 5-trip while loop, each trip a pass over both words in memory
    that nothing else fuses into. Unrolled, XLA fuses counters, hash and draws into loop fusions with no
    intermediate words in memory (it recomputes the hash for each of a word's four draws, and still runs a
    layer's masks ~40% faster: docs/performance.md, fifth pass). Accelerators already get the unrolled form.

    Args:
      k1, k2: uint32 scalars, the key's two words.
      x0, x1: uint32 arrays of one shape, the counters.
    Returns:
      The two uint32 output words, each of the counters' shape.
    """
    ks = (k1, k2, k1 ^ k2 ^ jnp.uint32(0x1BD11BDA))
    x0, x1 = x0 + ks[0], x1 + ks[1]
    for block in range(5):
        for r in _ROTATIONS[block % 2]:
            x0 = x0 + x1
            x1 = x0 ^ ((x1 << jnp.uint32(r)) | (x1 >> jnp.uint32(32 - r)))
        x0 = x0 + ks[(block + 1) % 3]
        x1 = x1 + ks[(block + 2) % 3] + jnp.uint32(block + 1)
    return x0, x1


def _threefry_words(key: jax.Array, shape: tuple[int, ...]) -> tuple[jax.Array, jax.Array]:
    """Both 32-bit outputs of threefry2x32 over counters of ``shape`` (one hash per counter)."""
    k1, k2 = jax.random.key_data(key)
    return threefry2x32(k1, k2, jnp.zeros(shape, jnp.uint32), _flat_counters(shape))


def random_draws(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """uint32 array of ``shape`` holding uniform 16-bit draws (values in [0, 65536)).

    Along the last axis, each run of four neighbours (threefry: high and low half of both output words
    of one hash) or two (other key implementations: both halves of one 32-bit word) shares a hash.
    Interleaved, not concatenated part after part: XLA fuses a concatenation as one branch per part,
    each with its own copy of the hash's code, while here the fusion holds the hash once and picks a field
    by position. One layer's masks at MiniLM's width 88 compiled in half the time and ran 45% faster
    (docs/performance.md, ninth pass).

    Args:
      key: a jax PRNG key (typed, or raw uint32 data of the default implementation).
      shape: the mask's shape; its last axis is cut into runs of four (threefry) or two draws.
    """
    if not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.wrap_key_data(key)
    shape = tuple(shape)
    *lead, last = shape if shape else (1,)
    if jax.random.key_impl(key) == "threefry2x32":
        words_shape = (*lead, -(-last // 4))
        if math.prod(words_shape) >= 1 << 32:
            raise ValueError(f"a dropout mask of shape {shape} needs more than 2**32 hash counters")
        words = _threefry_words(key, words_shape)
    else:
        words = (jax.random.bits(key, (*lead, -(-last // 2)), jnp.uint32),)
    # Field f of a run: word f // 2, its low (f even) or high (f odd) 16 bits.
    field = jax.lax.broadcasted_iota(jnp.uint32, (*words[0].shape, 2 * len(words)), len(lead) + 1)
    word = words[0][..., None]
    if len(words) == 2:
        word = jnp.where(field < 2, word, words[1][..., None])
    draws = (word >> ((field & 1) * jnp.uint32(DRAW_BITS))) & jnp.uint32(_DRAW_VALUES - 1)
    return draws.reshape(*lead, field.shape[-1] * words[0].shape[-1])[..., :last].reshape(shape)


def keep_mask(key: jax.Array, rate: float, shape: tuple[int, ...]) -> jax.Array:
    """bool array of ``shape``: True where an element is kept (probability ``keep_probability(rate)``)."""
    return _jitted_keep_mask(key, float(rate), tuple(shape))


@functools.partial(jax.jit, static_argnums=(1, 2))
def _jitted_keep_mask(key: jax.Array, rate: float, shape: tuple[int, ...]) -> jax.Array:
    """keep_mask's body, jitted so that a step traces each mask shape once (JAX caches the inner trace by shape
    and rate), not once per dropout layer: a MiniLM fine-tuning step's 20 masks have 3 shapes, and tracing their
    unrolled hashes one by one was ~0.75 s of the step's ~1.6 s trace at every new width. XLA inlines the call,
    so the compiled step computes the same thing (docs/performance.md, ninth pass)."""
    return random_draws(key, shape) >= jnp.uint32(_drop_threshold(rate))


def dropout(x: jax.Array, rate: float, key: jax.Array) -> jax.Array:
    """Inverted dropout of ``x`` (any shape): zeros with probability ~rate, survivors scaled to keep E[x]."""
    if rate == 0.0:
        return x
    return masked_scale(x, keep_mask(key, rate, x.shape), 1.0 / keep_probability(rate))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def masked_scale(x: jax.Array, keep: jax.Array, scale: float) -> jax.Array:
    """``where(keep, x · scale, 0)``, ``keep`` a bool array of ``x``'s shape; its gradient is the same map.

    Scaled in float32 and rounded once: with a bf16 scale (1/0.9 → 1.109375) every survivor would carry the
    same -0.16% bias. The hand-written gradient keeps only the bool mask for the backward pass: left to
    autodiff, XLA:CPU kept the mask's 32-bit draws in memory (4 bytes an element, not 1) and compared them
    again (docs/performance.md, eighth pass).
    """
    scaled = (x.astype(jnp.float32) * scale).astype(x.dtype)
    return jnp.where(keep, scaled, jnp.zeros((), x.dtype))


def _masked_scale_forward(x, keep, scale):
    return masked_scale(x, keep, scale), keep


def _masked_scale_backward(scale, keep, grad):
    return masked_scale(grad, keep, scale), None  # no gradient for the mask


masked_scale.defvjp(_masked_scale_forward, _masked_scale_backward)


class Dropout(nn.Module):
    """``nn.Dropout``'s interface (rate; ``deterministic`` at call; the 'dropout' rng) over ``dropout`` above."""

    rate: float

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool) -> jax.Array:
        if deterministic or self.rate == 0.0:
            return x
        return dropout(x, self.rate, self.make_rng("dropout"))

"""Dropout from 16-bit draws (models/dropout.py): the stream differs from jax.random.bernoulli's, the
distribution may not. Checked against the binomial and chi-square laws (scipy) on masks of a million elements:
rate, expectation, independence of the draws that share a hash, neighbours, keys and implementations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend.random import threefry2x32_p
from scipy import stats

from bert_jax.models.dropout import Dropout, dropout, keep_mask, keep_probability, random_draws, threefry2x32

SHAPE = (8, 128, 1024)  # 1,048,576 elements; the last axis splits into 256 runs of four draws, one hash each


def _binomial_p(kept: int, n: int, p: float) -> float:
    return stats.binomtest(kept, n, p).pvalue


def test_unrolled_threefry_is_jaxs_threefry_bit_for_bit():
    """Random123's known-answer vector for Threefry-2x32-20, then JAX's primitive on random keys and counters
    (counters include the uint32 wrap-around), eagerly and under jit."""
    u32 = np.uint32
    out = threefry2x32(u32(0x13198A2E), u32(0x03707344), jnp.array([0x243F6A88], u32), jnp.array([0x85A308D3], u32))
    assert [int(w[0]) for w in out] == [0xC4923A9C, 0x483DF7A0]
    rng = np.random.default_rng(0)
    for _ in range(3):
        k1, k2 = (u32(k) for k in rng.integers(0, 2**32, 2))
        x0, x1 = (jnp.asarray(np.append(rng.integers(0, 2**32, 4095), 2**32 - 1).astype(u32)) for _ in range(2))
        want = threefry2x32_p.bind(k1, k2, x0, x1)
        for fn in (threefry2x32, jax.jit(threefry2x32)):
            got = fn(k1, k2, x0, x1)
            np.testing.assert_array_equal(np.asarray(got[0]), np.asarray(want[0]))
            np.testing.assert_array_equal(np.asarray(got[1]), np.asarray(want[1]))


@pytest.mark.parametrize("impl", ["threefry2x32", "rbg"])
def test_draws_are_uniform_16_bit_values(impl):
    draws = np.asarray(random_draws(jax.random.key(0, impl=impl), SHAPE))
    assert draws.dtype == np.uint32 and draws.shape == SHAPE and draws.max() < 65536
    counts = np.bincount(draws.ravel() >> 8, minlength=256)  # the high byte: 256 equally likely bins
    assert stats.chisquare(counts).pvalue > 1e-4
    counts = np.bincount(draws.ravel() & 255, minlength=256)  # the low byte
    assert stats.chisquare(counts).pvalue > 1e-4


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.02])
def test_the_drop_rate_is_the_binomials(rate):
    keep = np.asarray(keep_mask(jax.random.key(1), rate, SHAPE))
    p = keep_probability(rate)
    assert abs(p - (1 - rate)) <= 0.5 / 65536
    assert _binomial_p(int(keep.sum()), keep.size, p) > 1e-4


def test_draws_sharing_a_hash_and_neighbours_are_independent():
    """The four draws of one hash are last-axis neighbours 4w..4w+3 (the two halves of its first output word,
    then of its second). A 2x2 contingency test of the keep decisions of each such pair, of neighbours across
    two hashes, and of rows."""
    keep = np.asarray(keep_mask(jax.random.key(2), 0.5, SHAPE)).reshape(-1, SHAPE[-1])
    field = [keep[:, f::4] for f in range(4)]
    pairs = {"same hash, halves of a word": (field[0], field[1]),
             "same hash, other word": (field[0], field[2]),
             "same hash, other word's other half": (field[1], field[3]),
             "neighbours in two hashes": (field[3][:, :-1], field[0][:, 1:]),
             "rows": (keep[:-1], keep[1:])}
    for name, (a, b) in pairs.items():
        table = np.array([[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]])
        assert stats.chi2_contingency(table).pvalue > 1e-4, name


def test_a_hashs_four_draws_are_its_two_words_cut_in_halves():
    """The draws are the fields of the hash of counter (0, row-major index of the run), by hand from
    threefry2x32 (itself checked against JAX's primitive above)."""
    key = jax.random.key(8)
    shape = (3, 10)  # runs of 4: three per row, the last one cut to 2 draws
    k1, k2 = jax.random.key_data(key)
    counters = np.arange(3 * 3, dtype=np.uint32)
    hi, lo = (np.asarray(w).reshape(3, 3) for w in threefry2x32(k1, k2, jnp.zeros(9, jnp.uint32), counters))
    want = np.stack([hi & 0xFFFF, hi >> 16, lo & 0xFFFF, lo >> 16], axis=-1).reshape(3, 12)[:, :10]
    np.testing.assert_array_equal(np.asarray(random_draws(key, shape)), want)
    np.testing.assert_array_equal(np.asarray(jax.jit(random_draws, static_argnums=1)(key, shape)), want)


def test_keys_give_independent_masks_and_the_same_key_the_same_mask():
    key = jax.random.key(3)
    a = np.asarray(keep_mask(key, 0.5, SHAPE))
    np.testing.assert_array_equal(a, np.asarray(keep_mask(key, 0.5, SHAPE)))
    b = np.asarray(keep_mask(jax.random.fold_in(key, 1), 0.5, SHAPE))
    agree = int((a == b).sum())  # independent fair masks agree on half the elements
    assert _binomial_p(agree, a.size, 0.5) > 1e-4


def test_dropout_keeps_the_expectation_and_zeroes_the_rest():
    x = jnp.full(SHAPE, 3.0)
    y = np.asarray(dropout(x, 0.1, jax.random.key(4)))
    kept = y != 0
    np.testing.assert_allclose(y[kept], 3.0 / keep_probability(0.1), rtol=1e-6)
    # E[y] = 3 exactly: the sample mean is within 5 standard errors of it.
    std_err = 3.0 / keep_probability(0.1) * np.sqrt(keep_probability(0.1) * (1 - keep_probability(0.1)) / y.size)
    assert abs(y.mean() - 3.0) < 5 * std_err


def test_odd_shapes_and_raw_keys():
    """A last axis that is not a multiple of four, a scalar, and a legacy uint32 key all work."""
    raw = jax.random.PRNGKey(5)
    keep = np.asarray(keep_mask(raw, 0.5, (3, 7, 5)))
    assert keep.shape == (3, 7, 5)
    assert 0 < keep.sum() < keep.size
    assert keep_mask(raw, 0.5, ()).shape == ()


def test_module_is_identity_when_deterministic_and_consumes_the_dropout_rng():
    x = jnp.ones((4, 16))
    module = Dropout(0.3)
    np.testing.assert_array_equal(module.apply({}, x, deterministic=True), x)
    y = module.apply({}, x, deterministic=False, rngs={"dropout": jax.random.key(6)})
    assert 0 < int((np.asarray(y) == 0).sum()) < y.size
    with pytest.raises(ValueError, match=r"dropout rate must be in \[0, 1\); got 1.0"):
        keep_probability(1.0)


def test_sharded_mask_equals_the_unsharded_one():
    """Over 8 devices (batch-sharded), the jitted mask is the same bits: the counters are global indices."""
    devices = np.array(jax.devices()[:8])
    if devices.size < 8:
        pytest.skip("needs 8 host devices (XLA_FLAGS=--xla_force_host_platform_device_count=8)")
    mesh = jax.sharding.Mesh(devices, ("data",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
    x = jax.device_put(jnp.ones(SHAPE), sharding)
    key = jax.random.key(7)
    sharded = jax.jit(lambda x, k: dropout(x, 0.1, k), out_shardings=sharding)(x, key)
    np.testing.assert_array_equal(np.asarray(sharded), np.asarray(dropout(jnp.ones(SHAPE), 0.1, key)))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_gradient_is_the_masked_scale_of_the_cotangent(dtype):
    """The hand-written gradient (it keeps only the bool mask) against autodiff of the same formula written
    out: bit for bit, in float32 and bfloat16, jitted."""
    rate, key = 0.1, jax.random.key(8)
    x = jax.random.normal(jax.random.key(9), (4, 16, 40)).astype(dtype)
    cotangent = jax.random.normal(jax.random.key(10), x.shape).astype(dtype)
    keep = keep_mask(key, rate, x.shape)

    def written_out(x):
        scaled = (x.astype(jnp.float32) * (1.0 / keep_probability(rate))).astype(x.dtype)
        return jnp.where(keep, scaled, jnp.zeros((), x.dtype))

    want = jax.vjp(written_out, x)[1](cotangent)[0]
    got = jax.jit(lambda x, c: jax.vjp(lambda x: dropout(x, rate, key), x)[1](c)[0])(x, cotangent)
    assert got.dtype == dtype
    np.testing.assert_array_equal(np.asarray(got, np.float32), np.asarray(want, np.float32))
    np.testing.assert_array_equal(np.asarray(dropout(x, rate, key), np.float32), np.asarray(written_out(x), np.float32))


def test_a_trace_draws_each_mask_shape_once_and_still_gives_each_layer_its_own_mask(monkeypatch):
    """keep_mask is jitted by shape and rate: three dropout layers of one shape inside one jitted function trace
    the hash once (tracing it per layer was half a MiniLM step's trace), and each layer's key still picks its
    own mask."""
    from bert_jax.models import dropout as dropout_module

    traced = []
    original = dropout_module.random_draws
    monkeypatch.setattr(dropout_module, "random_draws", lambda key, shape: traced.append(shape) or original(key, shape))
    shape = (3, 11, 37)  # a shape no other test draws, so the jit cache starts empty for it

    @jax.jit
    def three_layers(x, key):
        return [dropout(x, 0.5, jax.random.fold_in(key, layer)) for layer in range(3)]

    masks = [np.asarray(y) != 0 for y in three_layers(jnp.ones(shape), jax.random.key(9))]
    assert traced == [shape]
    assert not np.array_equal(masks[0], masks[1]) and not np.array_equal(masks[1], masks[2])
    np.testing.assert_array_equal(masks[2], np.asarray(keep_mask(jax.random.fold_in(jax.random.key(9), 2), 0.5, shape)))

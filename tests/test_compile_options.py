"""bert_jax.compile_options: forward-only programs on CPU compile with XLA's Eigen matmuls (no YNNPACK fusion),
compute what the default compile computes, and fall back to the defaults where jaxlib lacks the option."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bert_jax import compile_options
from bert_jax.models.bert import BertModel
from bert_jax.models.config import BertConfig


@pytest.fixture(autouse=True)
def _fresh_cache():
    compile_options.forward_only.cache_clear()
    yield
    compile_options.forward_only.cache_clear()


def _forward(options: dict):
    """The tiny encoder's forward compiled for a CPU device (whatever the default backend) with ``options``."""
    config = BertConfig.preset("tiny", vocab_size=100)
    model = BertModel(config)
    rng = np.random.default_rng(0)
    cpu = jax.devices("cpu")[0]
    ids = jax.device_put(jnp.asarray(rng.integers(5, 100, (2, 16)), jnp.int32), cpu)
    mask = jax.device_put(jnp.asarray(np.arange(16)[None] < np.array([[16], [9]]), jnp.int32), cpu)
    params = jax.device_put(model.init(jax.random.PRNGKey(0), ids, attention_mask=mask)["params"], cpu)
    forward = jax.jit(lambda p: model.apply({"params": p}, ids, attention_mask=mask).sequence_output,
                      compiler_options=options)
    compiled = forward.lower(params).compile()
    return np.asarray(compiled(params)), compiled.as_text(), np.asarray(mask, bool)


def test_forward_only_on_cpu_drops_ynnpack_and_matches_the_default_compile(monkeypatch):
    monkeypatch.setattr(compile_options.jax, "default_backend", lambda: "cpu")
    options = compile_options.forward_only()
    assert options == {"xla_cpu_experimental_ynn_fusion_type": ""}
    default, default_hlo, real = _forward({})
    eigen, eigen_hlo, _ = _forward(options)
    assert "__ynn_fusion" in default_hlo  # the default this option departs from
    assert "__ynn_fusion" not in eigen_hlo
    assert re.search(r"\bdot\(", eigen_hlo)  # plain dots: XLA's own (Eigen) matmuls
    np.testing.assert_allclose(eigen[real], default[real], rtol=1e-5, atol=1e-5)


def test_an_option_this_jaxlib_lacks_falls_back_to_the_defaults(monkeypatch):
    monkeypatch.setattr(compile_options, "_CPU_EIGEN_DOTS", {"xla_cpu_no_such_option_for_the_test": ""})
    monkeypatch.setattr(compile_options.jax, "default_backend", lambda: "cpu")
    assert compile_options.forward_only() == {}


def test_other_backends_compile_with_their_defaults(monkeypatch):
    monkeypatch.setattr(compile_options.jax, "default_backend", lambda: "gpu")
    assert compile_options.forward_only() == {}


def test_the_probe_works_inside_a_multi_device_mesh_context(monkeypatch):
    """train.run asks for the options inside its mesh context: the probe must not depend on it (it did: its
    committed one-device arguments conflicted with an 8-device mesh, so forward-only programs of every run
    over several devices silently compiled with the defaults)."""
    from bert_jax import sharding

    assert jax.device_count() >= 2, "conftest.py gives the test process 8 host devices; XLA_FLAGS overrode it"
    monkeypatch.setattr(compile_options.jax, "default_backend", lambda: "cpu")
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:2]), ("data",))
    with sharding.mesh_context(mesh):
        assert compile_options.forward_only() == {"xla_cpu_experimental_ynn_fusion_type": ""}

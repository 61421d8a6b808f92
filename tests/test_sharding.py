"""Sharded init/forward/backward on 8 CPU devices equal the single-device computation."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bert_jax.models.bert import BertConfig
from bert_jax.models.heads import BertWithHead, PretrainingHeads
from bert_jax.sharding import (
    batch_sharding,
    get_rules,
    make_mesh,
    mesh_context,
    param_shardings,
    resolve_mesh_shape,
)

CFG = BertConfig.preset("tiny", vocab_size=128, max_position_embeddings=16, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0)


def _batch():
    rng = np.random.default_rng(0)
    ids = jnp.asarray(rng.integers(1, 128, (8, 16)), jnp.int32)
    mask = jnp.asarray(np.arange(16)[None] < rng.integers(4, 17, (8, 1)), jnp.int32)
    positions = jnp.asarray(rng.integers(0, 4, (8, 3)), jnp.int32)
    return ids, mask, positions


def _loss(model, params, ids, mask, positions):
    out = model.apply({"params": params}, ids, attention_mask=mask, masked_positions=positions)
    return jnp.mean(out["mlm_logits"] ** 2) + jnp.mean(out["nsp_logits"] ** 2)


@pytest.mark.parametrize("scan", [False, True], ids=["unrolled", "scan"])
@pytest.mark.parametrize("shape,preset", [({"data": 8}, "dp"), ({"data": 2, "fsdp": 4}, "fsdp"),
                                          ({"data": 2, "fsdp": 2, "tensor": 2}, "fsdp_tp")])
def test_sharded_equals_single_device(shape, preset, scan):
    if jax.device_count() < 8:
        pytest.skip("needs 8 devices (XLA_FLAGS=--xla_force_host_platform_device_count=8 before JAX starts)")
    cfg = CFG.replace(scan_layers=scan)
    model = BertWithHead(cfg, PretrainingHeads(cfg))
    ids, mask, positions = _batch()
    rng = jax.random.PRNGKey(0)

    def init(r):
        return model.init(r, ids[:1], masked_positions=positions[:1])

    single = nn.unbox(jax.jit(init)(rng))["params"]
    # The one-device reference is jitted too (op by op it compiled ~250 one-op programs, ~10 s per test).
    ref_loss, ref_grads = jax.jit(jax.value_and_grad(lambda p: _loss(model, p, ids, mask, positions)))(single)

    mesh, rules = make_mesh(shape), get_rules(preset)
    shardings = param_shardings(jax.eval_shape(init, rng), mesh, rules)
    with mesh_context(mesh), nn.logical_axis_rules(rules):
        boxed = jax.jit(init, out_shardings=shardings)(rng)
        params = nn.unbox(boxed)["params"]
        data = [jax.device_put(x, batch_sharding(mesh)) for x in (ids, mask, positions)]
        loss, grads = jax.jit(jax.value_and_grad(lambda p, *b: _loss(model, p, *b)))(params, *data)

    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5), params, single)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5), grads, ref_grads)

    table = params["bert"]["embeddings"]["word_embeddings"]["embedding"]  # [vocab, embed]
    encoder = params["bert"]["encoder"]
    kernel = (encoder["layer"] if scan else encoder["layer_1"])["intermediate"]["dense"]["kernel"]
    layers = (2,) if scan else ()  # [layers, embed, mlp] stacked, [embed, mlp] per layer
    local_table = table.addressable_shards[0].data.shape
    local_kernel = kernel.addressable_shards[0].data.shape
    if preset == "dp":
        assert local_table == table.shape and local_kernel == kernel.shape
    if preset == "fsdp":
        assert local_table == (128, 128 // 4) and local_kernel == layers + (128 // 4, 512)
    if preset == "fsdp_tp":
        assert local_table == (128 // 2, 128 // 2) and local_kernel == layers + (128 // 2, 512 // 2)


def test_mesh_shape_errors():
    assert resolve_mesh_shape({"data": -1, "tensor": 2}, 8) == {"data": 4, "fsdp": 1, "tensor": 2}
    with pytest.raises(ValueError, match="needs 6 devices but 8 are present"):
        resolve_mesh_shape({"data": 3, "fsdp": 2}, 8)
    with pytest.raises(ValueError, match="not divisible by 3"):
        resolve_mesh_shape({"data": -1, "fsdp": 3}, 8)
    with pytest.raises(ValueError, match=r"mesh axes \['model'\] are not known"):
        resolve_mesh_shape({"model": 2}, 8)
    with pytest.raises(ValueError, match="sharding preset 'zero3'"):
        get_rules("zero3")

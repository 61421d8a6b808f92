"""bench profile's kernel kinds: XLA ops of known programs traced on this CPU land in the kind of what
they compute; the interval and self-time arithmetic against hand-computed values."""

import jax
import jax.numpy as jnp
import numpy as np

from bert_jax.bench import kernels
from bert_jax.bench.profile_bench import _self_times, profile_ours
from bert_jax.bench.runners import Runner


def _profiled_kinds(fn, *args, tmp_path) -> dict[str, float]:
    jitted = jax.jit(fn)
    runner = Runner(lambda: jax.block_until_ready(jitted(*args)), hlo=lambda: jitted.lower(*args).compile().as_text())
    return profile_ours(runner, 2, str(tmp_path)).by_kind()


def test_a_matmul_program_is_mostly_matmul(tmp_path):
    a = jnp.asarray(np.random.default_rng(0).normal(size=(512, 512)), jnp.float32)
    kinds = _profiled_kinds(lambda x, y: x @ y, a, a, tmp_path=tmp_path)
    assert kinds.get("matmul", 0) > 0.8 * sum(kinds.values()), kinds


def test_an_embedding_gradient_is_a_scatter(tmp_path):
    table = jnp.ones((64, 256))
    ids = jnp.asarray(np.random.default_rng(0).integers(0, 64, (4096,)), jnp.int32)
    kinds = _profiled_kinds(jax.grad(lambda t, i: (jnp.take(t, i, axis=0) ** 2).sum()), table, ids, tmp_path=tmp_path)
    assert kinds.get("scatter/gather", 0) > 0, kinds
    assert "matmul" not in kinds, kinds


def test_hlo_kinds_of_hand_written_instructions():
    hlo = """HloModule m

%fused_dot (p0: f32[4,4], p1: f32[4,4]) -> f32[4,4] {
  %p0 = f32[4,4]{1,0} parameter(0)
  %p1 = f32[4,4]{1,0} parameter(1)
  ROOT %dot.1 = f32[4,4]{1,0} dot(%p0, %p1), lhs_contracting_dims={1}, rhs_contracting_dims={0}
}

%fused_convert (p0: f32[4,4]) -> bf16[4,4] {
  %p0 = f32[4,4]{1,0} parameter(0)
  ROOT %convert.2 = bf16[4,4]{1,0} convert(%p0)
}

%fused_gelu (p0: f32[4,4]) -> f32[4,4] {
  %p0 = f32[4,4]{1,0} parameter(0)
  ROOT %tanh.3 = f32[4,4]{1,0} tanh(%p0)
}

ENTRY %main (a: f32[4,4]) -> f32[4,4] {
  %a = f32[4,4]{1,0} parameter(0)
  %fusion.1 = f32[4,4]{1,0} fusion(%a, %a), kind=kOutput, calls=%fused_dot
  %fusion.2 = bf16[4,4]{1,0} fusion(%fusion.1), kind=kLoop, calls=%fused_convert
  %copy.5 = f32[4,4]{0,1} copy(%fusion.1)
  ROOT %fusion.3 = f32[4,4]{1,0} fusion(%copy.5), kind=kLoop, calls=%fused_gelu
}
"""
    instructions = kernels.hlo_instructions(hlo)
    kinds = {name: kernels.kind_of_hlo(instructions[name]) for name in ("fusion.1", "fusion.2", "copy.5", "fusion.3")}
    assert kinds == {"fusion.1": "matmul", "fusion.2": "converts/copies", "copy.5": "converts/copies",
                     "fusion.3": "elementwise"}


def test_library_kernel_names():
    assert kernels.kind_of_name("sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64") == "matmul"
    assert kernels.kind_of_name("cudnn_generated_fort_native_sdpa_sm90_knob_7_64x128x64") == "attention"
    assert kernels.kind_of_name("triton_per_fused_native_layer_norm_0") == "reductions"
    assert kernels.kind_of_name("triton_poi_fused_gelu_1") == "elementwise"
    assert kernels.kind_of_name("aten::bernoulli_") == "rng"
    assert kernels.kind_of_name("aten::embedding_dense_backward") == "scatter/gather"


def test_busy_time_is_the_union_of_intervals():
    # [0, 10) ∪ [5, 12) ∪ [20, 25) ∪ [21, 22) = 12 + 5
    assert kernels.busy_time([(0, 10), (5, 7), (20, 5), (21, 1)]) == 17


def test_self_time_subtracts_directly_nested_ops():
    ops = [{"name": "aten::linear", "pid": 1, "tid": 1, "ts": 0, "dur": 10},
           {"name": "aten::t", "pid": 1, "tid": 1, "ts": 1, "dur": 2},
           {"name": "aten::addmm", "pid": 1, "tid": 1, "ts": 4, "dur": 5},
           {"name": "aten::copy_", "pid": 1, "tid": 1, "ts": 5, "dur": 1},
           {"name": "aten::mul", "pid": 1, "tid": 2, "ts": 3, "dur": 4}]
    assert sorted(_self_times(ops)) == sorted([("aten::linear", 3), ("aten::t", 2), ("aten::addmm", 4),
                                               ("aten::copy_", 1), ("aten::mul", 4)])

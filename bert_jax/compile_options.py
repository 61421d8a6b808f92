"""XLA compiler options per kind of program, for ``jax.jit(..., compiler_options=...)``.

On CPU, jax 0.10 runs matmuls through YNNPACK fusions by default. For forward-only programs (evaluation,
prediction, the inference benchmark) XLA's Eigen matmuls are faster on the Intel (AVX-512) machine we
measured: MiniLM inference at 32 × 128 −10%, BERT-base at 8 × 128 −1 to −7% (docs/performance.md, "Issue 19,
sixth pass"; before the attention's heads-first layout the gain was −20% and −13%).
Train steps keep the default: compiled without YNNPACK, a MiniLM train step is 15% slower (its element-wise
and reduction fusions lose YNNPACK's kernels, which outweighs the faster matmuls).

The option is experimental in XLA; if this jaxlib does not know it, the programs compile with the defaults
(logged once) instead of failing.
"""

from __future__ import annotations

import functools
import logging

import jax
import jax.numpy as jnp

log = logging.getLogger(__name__)

# An empty list of YNNPACK fusion kinds: no YNNPACK fusions, so XLA:CPU emits its Eigen matmuls.
_CPU_EIGEN_DOTS = {"xla_cpu_experimental_ynn_fusion_type": ""}


@functools.cache
def forward_only() -> dict:
    """Compiler options for a jitted forward-only program on the default backend ({} = XLA's defaults)."""
    if jax.default_backend() != "cpu":
        return {}
    try:
        # Abstract arguments: no committed device, so an ambient mesh (train.run asks inside its own) cannot
        # conflict with them, as a one-device array did with a multi-device mesh.
        x = jax.ShapeDtypeStruct((2, 2), jnp.float32)
        jax.jit(jnp.dot, compiler_options=_CPU_EIGEN_DOTS).lower(x, x).compile()
    except Exception as error:  # an unknown option name or value: this jaxlib lacks it
        log.info("XLA:CPU Eigen matmuls for forward-only programs unavailable (%s); using XLA's defaults",
                 str(error).splitlines()[0])
        return {}
    return dict(_CPU_EIGEN_DOTS)

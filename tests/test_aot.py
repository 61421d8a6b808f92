"""python -m bert_jax.aot: the trainer's step compiled by XLA:TPU for a real topology on this CPU (libtpu from
the `tpu` extra describes the chips). Skipped, and saying so, where libtpu is not installed."""

import importlib.util
import os
import re
import subprocess
import sys

import pytest

from bert_jax import flops
from bert_jax.models.bert import BertConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
needs_libtpu = pytest.mark.skipif(importlib.util.find_spec("libtpu") is None,
                                  reason="libtpu is not installed (pip install -e '.[tpu]'): no TPU compile")


def _aot(*args, timeout=600):
    cmd = [sys.executable, "-m", "bert_jax.aot", "--config=configs/pretrain_tiny.py", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def _number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in:\n{text}"
    return float(match.group(1))


@needs_libtpu
@pytest.mark.slow
def test_tiny_config_compiles_for_v5e_with_splash_attention_and_fits():
    result = _aot("--topology=v5e:2x2", "--config.model.dtype=bfloat16",
                  "--config.model.attention_implementation=splash", "--config.model.attention_probs_dropout_prob=0.0")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    out = result.stdout
    assert "4 × TPU v5 lite; mesh {'data': 4, 'fsdp': 1, 'tensor': 1}" in out
    assert "global batch 32 × seq 128 (8 sequences per device)" in out
    assert "of 16.00 GiB HBM" in out and "fits: yes" in out
    # The analytic count is flops.py's for the config the run would train (tiny, vocab 8000, 20 predictions).
    config = BertConfig.preset("tiny", vocab_size=8000)
    expected = 32 * flops.pretraining_flops_per_sequence(config, 128, 20)
    assert _number(r"analytic ([\d.e+]+)", out) == pytest.approx(expected, rel=1e-3)


@needs_libtpu
@pytest.mark.slow
def test_a_step_that_does_not_fit_exits_2_and_xla_counts_at_least_the_model_flops():
    """With XLA attention every matmul of the step is in XLA's cost analysis: it counts at least the
    model FLOPs (plus softmax, LayerNorm, optimizer), and not wildly more."""
    result = _aot("--topology=v5e:2x2", "--hbm_gib=0.001")
    assert result.returncode == 2, result.stdout + result.stderr[-3000:]
    assert "fits: NO" in result.stdout
    analytic = _number(r"analytic ([\d.e+]+)", result.stdout)
    compiled = _number(r"compiled ([\d.e+]+)", result.stdout)
    assert analytic <= compiled <= 2 * analytic


@needs_libtpu
def test_bad_topology_and_fine_tuning_config_are_one_line_errors():
    result = _aot("--topology=v9z:2x2")
    assert result.returncode == 1 and "--topology='v9z:2x2'; expected <chip>:<grid>" in result.stderr
    assert "Traceback" not in result.stderr
    result = subprocess.run([sys.executable, "-m", "bert_jax.aot", "--config=configs/glue.py:rte",
                             "--topology=v5e:2x2"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "aot compiles pretraining configs" in result.stderr
    assert "Traceback" not in result.stderr

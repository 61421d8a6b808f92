"""The benchmarks run end to end on CPU at a tiny size and print ours, the peer and the ratio. No timing
is asserted (speed is measured by running them, docs/performance.md); these keep the harness working."""

import json
import os
import re
import subprocess
import sys

import pytest

from tests.xla_env import cli_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CASES = {
    "pretrain": ["pretrain", "--size=tiny", "--seq=64", "--batch=6", "--padding=0.5", "--packed"],
    "finetune": ["finetune", "--size=tiny", "--steps=2", "--batch=16", "--packed", "--lengths=mrpc",
                 "--multiples=32,16"],
    "infer": ["infer", "--size=tiny", "--batch=4", "--seq=32"],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_benchmark_prints_ours_peer_and_ratio(name):
    proc = subprocess.run([sys.executable, "-m", "bert_jax.bench", *CASES[name], "--repeats=1"], cwd=ROOT,
                          env=cli_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    ours = [line for line in lines if line.startswith("bert_jax ")]
    peers = [line for line in lines if line.startswith("HF ")]
    assert ours and peers, proc.stdout
    if name == "pretrain":  # padded and packed rows of the same examples
        assert len(ours) == 2 and "packed" in ours[1], proc.stdout
    if name == "finetune":  # one padded row per multiple, then the packed rows, of the same MRPC-like pairs
        # The loader's row: its planned widths that these 2 batches use (at most 4).
        labels = [re.search(r"padded to ([1-4]) widths|padded to ×\d+|packed", line) for line in ours]
        assert all(labels) and [m.group(0) for m in labels][1:] == ["padded to ×32", "padded to ×16", "packed"], \
            proc.stdout
        assert labels[0].group(1) is not None, proc.stdout
        mean = re.search(r"MRPC-like examples \(mean ([\d.]+) tokens\)", proc.stdout)
        assert mean and 40 < float(mean.group(1)) < 66, proc.stdout  # MRPC's pairs: mean 53.2
    ratio = re.search(r"ratio ours/peer \(real tokens/s, best of each\): ([0-9.]+)x", proc.stdout)
    assert ratio and float(ratio.group(1)) > 0, proc.stdout


def test_matmul_ceiling_prints_both_sides_for_the_layer_shapes():
    proc = subprocess.run([sys.executable, "-m", "bert_jax.bench", "gemm", "--size=tiny", "--batch=2", "--seq=16",
                           "--repeats=1"], cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line for line in proc.stdout.splitlines() if re.match(r"(projection|FFN|square) ", line)]
    assert len(rows) == 5, proc.stdout
    assert all(len(re.findall(r"\d+\.\d", row)) == 2 for row in rows), proc.stdout  # XLA and torch
    assert re.search(r"ceiling \(best row\): XLA [0-9.]+ GFLOP/s, torch [0-9.]+ GFLOP/s", proc.stdout), proc.stdout


def test_matmul_shapes_are_the_encoder_layer_kernels():
    """Each timed product multiplies the tokens by a real kernel of the model's first layer (shapes read from
    initialised params, not from the bench), and 4 projections + FFN in + FFN out make up flops.py's
    per-layer count less its two attention matmuls."""
    import jax
    import numpy as np

    from bert_jax import flops
    from bert_jax.bench.gemm_bench import shapes
    from bert_jax.convert import init_params
    from bert_jax.models.bert import BertModel
    from bert_jax.models.config import BertConfig

    config, seq, tokens = BertConfig.preset("mini"), 32, 3 * 32
    layer = init_params(BertModel(config), jax.random.PRNGKey(0))["encoder"]["layer_0"]
    query = layer["attention"]["self"]["query"]["kernel"].shape
    kernels = {"projection": (query[0], int(np.prod(query[1:]))),
               "FFN in": layer["intermediate"]["dense"]["kernel"].shape,
               "FFN out": layer["output"]["dense"]["kernel"].shape}
    rows = {" ".join(name.split()[:2]).replace(" tokens×H", ""): (m, k, n) for name, m, k, n in shapes(config, tokens)}
    for name, kernel in kernels.items():
        assert rows[name] == (tokens, *kernel), name
    H, inner = kernels["FFN in"]
    assert rows["FFN dW"] == (H, tokens, inner)  # xᵀ · dy, the FFN-in kernel's gradient

    def flop(name):
        return 2 * np.prod(rows[name])

    per_layer = 4 * flop("projection") + flop("FFN in") + flop("FFN out")
    attention = 2 * 2 * seq * config.hidden_size * tokens
    assert per_layer == tokens * flops.encoder_flops_per_token(config, seq) / config.num_hidden_layers - attention


def test_profile_prints_kernel_time_by_kind_for_both_sides(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "bert_jax.bench", "profile", "pretrain", "--size=tiny", "--seq=32",
                           "--batch=4", "--profile-steps=2", "--top=5", f"--out={tmp_path}"], cwd=ROOT, env=cli_env(),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for side in ("bert_jax", "HF_eager"):
        summary = json.loads((tmp_path / f"{side}.json").read_text())
        by_kind = summary["ms_per_step_by_kind"]
        assert by_kind["matmul"] > 0 and summary["steps"] == 2, summary
        # Every kernel lands in exactly one kind: the kinds add up to the kernel time.
        assert sum(by_kind.values()) == pytest.approx(summary["kernel_ms_per_step"], rel=1e-6)
        rows = (tmp_path / f"{side}.tsv").read_text().splitlines()[1:]
        assert sum(float(r.split("\t")[2]) for r in rows) == pytest.approx(summary["kernel_ms_per_step"], rel=1e-4)
    assert re.search(r"^bert_jax: [\d.]+ ms wall per step", proc.stdout, re.M), proc.stdout
    assert re.search(r"^HF eager: [\d.]+ ms wall per step", proc.stdout, re.M), proc.stdout


def test_sides_are_timed_in_alternation_so_a_slow_phase_falls_on_both(monkeypatch):
    """A machine that slows down half-way: timed one side after the other, the second side would take all of
    the slow phase; in alternation each side gets the same share and the same median."""
    from bert_jax.bench import timing

    clock = {"now": 0.0, "calls": 0}
    order = []

    def side(name):
        def call():
            order.append(name)
            clock["calls"] += 1
            clock["now"] += 1.0 if clock["calls"] <= 4 else 3.0  # the same work, 3× slower from the 5th call on
        return call

    monkeypatch.setattr(timing.time, "perf_counter", lambda: clock["now"])
    seconds = timing.interleaved_seconds({"ours": side("ours"), "peer": side("peer")}, repeats=4)
    assert order == ["ours", "peer"] * 4
    assert seconds["ours"] == seconds["peer"] == 2.0  # medians of [1, 1, 3, 3]
    assert seconds["ours"].spread == 3.0


@pytest.mark.parametrize("args, message", [
    (["infer", "--size=tiny", "--peer-modes=eager,jit"], "unknown peer mode(s) jit; expected eager and/or compile"),
    (["finetune", "--size=tiny", "--multiples=32,x"], "--multiples='32,x': expected positive integers"),
    (["finetune", "--size=tiny", "--lengths=qnli"], "invalid choice: 'qnli'"),
])
def test_a_bad_option_is_refused_at_the_command_line(args, message):
    proc = subprocess.run([sys.executable, "-m", "bert_jax.bench", *args], cwd=ROOT, env=cli_env(),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr

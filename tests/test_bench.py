"""The benchmarks run end to end on CPU at a tiny size and print ours, the peer and the ratio. No timing
is asserted (speed is measured by running them, docs/performance.md); these keep the harness working."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CASES = {
    "pretrain": ["pretrain", "--size=tiny", "--seq=64", "--batch=6", "--padding=0.5", "--packed"],
    "finetune": ["finetune", "--size=tiny", "--steps=2", "--batch=16", "--packed"],
    "infer": ["infer", "--size=tiny", "--batch=4", "--seq=32"],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_benchmark_prints_ours_peer_and_ratio(name):
    proc = subprocess.run([sys.executable, "-m", "bert_jax.bench", *CASES[name], "--repeats=1"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    ours = [line for line in lines if line.startswith("bert_jax ")]
    peers = [line for line in lines if line.startswith("HF ")]
    assert ours and peers, proc.stdout
    if name != "infer":  # padded and packed rows of the same examples
        assert len(ours) == 2 and "packed" in ours[1], proc.stdout
    ratio = re.search(r"ratio ours/peer \(real tokens/s, best of each\): ([0-9.]+)x", proc.stdout)
    assert ratio and float(ratio.group(1)) > 0, proc.stdout

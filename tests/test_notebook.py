"""The Colab notebook runs top to bottom on CPU in its RUNLOCAL mode: every code cell is executed in
order in one namespace (as a kernel would), except the shell/magic lines of the install cell, which
must be only the clone, cd and pip install (this test runs inside the installed checkout)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.test_finetune import rte_folder
from tests.xla_env import cli_env

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(ROOT, "notebooks", "finetune_glue_colab.ipynb")
ALLOWED_MAGICS = [r"!git clone -q --depth 1 \{REPO\} bert_jax", r"%cd bert_jax", r"%pip install -q -e \."]

RUNNER = """
import json, sys
import matplotlib
matplotlib.use("Agg")
namespace = {"__name__": "__main__"}
for number, source in enumerate(json.load(open(sys.argv[1]))):
    print(f"--- cell {number}", flush=True)
    exec(compile(source, f"<cell {number}>", "exec"), namespace)
"""


def code_cells() -> list[str]:
    """Code cells with their magic lines removed (after checking that they are the install's)."""
    with open(NOTEBOOK) as f:
        cells = [c for c in json.load(f)["cells"] if c["cell_type"] == "code"]
    out = []
    for cell in cells:
        lines = "".join(cell["source"]).splitlines()
        magics = [line for line in lines if line.startswith(("!", "%"))]
        for line in magics:
            assert any(re.fullmatch(p, line) for p in ALLOWED_MAGICS), f"unexpected magic line: {line}"
        out.append("\n".join(line for line in lines if not line.startswith(("!", "%"))))
    return out


def test_notebook_runs_top_to_bottom_in_runlocal_mode(tmp_path, shared_or_none, minilm_dir):
    cells = code_cells()
    assert len(cells) >= 6
    (tmp_path / "cells.json").write_text(json.dumps(cells))
    workdir = tmp_path / "colab_rte"
    env = cli_env()  # one CPU device, as Colab's CPU runtime
    env.update(BERT_JAX_NOTEBOOK_RUNLOCAL="1", BERT_JAX_NOTEBOOK_WORKDIR=str(workdir),
               BERT_JAX_NOTEBOOK_DATA=rte_folder(tmp_path, shared_or_none), MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, "-c", RUNNER, str(tmp_path / "cells.json")], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert f"--- cell {len(cells) - 1}" in result.stdout
    assert minilm_dir in result.stdout  # the real checkpoint was the init
    results = json.loads((workdir / "eval_results.json").read_text())
    assert 0.0 <= results["accuracy"] <= 1.0 and results["selected_by"] == "score"  # RTE: the score is accuracy
    assert (workdir / "notebook_curves.png").stat().st_size > 1000
    assert (workdir / "training_curves.png").exists()
    dev = (workdir / "predictions" / "dev.tsv").read_text().splitlines()
    assert dev[0] == "index\tprediction\tlabel" and f"{len(dev) - 1} dev predictions" in result.stdout

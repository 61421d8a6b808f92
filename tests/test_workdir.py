"""Workdir safety: a second run on a busy workdir is refused, a killed run leaves no stale lock, and a
workdir that holds another config is refused unless allowed."""

import json
import os
import subprocess
import sys
import time

import pytest
from test_finetune import cli, rte_folder

from bert_jax.workdir import WorkdirError, WorkdirLock, check_stored_config, config_changes


def test_config_changes_ignore_cadence_and_layout_keys():
    stored = {"optim": {"learning_rate": 5e-5}, "log_every": 50, "mesh": {"data": -1}, "seed": 0}
    current = {"optim": {"learning_rate": 3e-5}, "log_every": 10, "mesh": {"data": 2}, "seed": 0, "new": 1}
    assert config_changes(stored, current) == {"optim.learning_rate": (5e-5, 3e-5), "new": (None, 1)}


def test_keys_added_since_the_workdir_was_made_are_changes_only_when_switched_on():
    """A workdir from an older bert_jax resumes when the new keys keep their off defaults."""
    stored = {"model": {"dtype": "float32"}, "data": {"dir": "x"}}
    current = {"model": {"dtype": "float32", "one_hot_word_embeddings": False},
               "data": {"dir": "x", "dataset": "", "dataset_config": ""}}
    assert config_changes(stored, current) == {}
    current["model"]["one_hot_word_embeddings"] = True
    assert config_changes(stored, current) == {"model.one_hot_word_embeddings": (None, True)}
    # A key the stored config has and this one lacks is still a change.
    assert config_changes(current, stored) == {"data.dataset": ("", None), "data.dataset_config": ("", None),
                                               "model.one_hot_word_embeddings": (True, None)}


def test_check_stored_config_refuses_a_changed_config_unless_allowed(tmp_path):
    path = tmp_path / "config.json"
    assert check_stored_config(str(path), {"seed": 0}, allow_change=False)  # no stored config: write it
    path.write_text(json.dumps({"seed": 0, "eval_every": 5}))
    assert not check_stored_config(str(path), {"seed": 0, "eval_every": 9}, allow_change=False)
    with pytest.raises(WorkdirError, match=r"seed: 0 → 1.*allow_config_change=True"):
        check_stored_config(str(path), {"seed": 1, "eval_every": 5}, allow_change=False)
    assert check_stored_config(str(path), {"seed": 1}, allow_change=True)


def test_a_second_run_on_a_busy_workdir_is_refused(tmp_path, minilm_dir):
    workdir = tmp_path / "run"
    workdir.mkdir()
    with WorkdirLock(str(workdir)):
        proc = cli("glue.py:rte,runlocal", workdir, f"--config.data.dir={rte_folder(tmp_path)}",
                   f"--config.data.vocab={minilm_dir}/vocab.txt", check=False)
    assert proc.returncode == 1 and f"workdir {workdir} is in use by another run" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(workdir.iterdir()) == []


def test_a_killed_run_leaves_no_stale_lock(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from bert_jax.workdir import WorkdirLock\n"
        f"with WorkdirLock({str(tmp_path)!r}):\n    print('locked', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(WorkdirError):
            WorkdirLock(str(tmp_path)).__enter__()
        holder.kill()
        holder.wait()
        time.sleep(0.1)
        with WorkdirLock(str(tmp_path)):
            pass
    finally:
        holder.kill()


@pytest.mark.slow
def test_resuming_with_another_config_is_refused_through_the_cli(tmp_path, minilm_dir):
    data = rte_folder(tmp_path)
    workdir = tmp_path / "run"
    common = [f"--config.data.dir={data}", f"--config.data.vocab={minilm_dir}/vocab.txt"]
    cli("glue.py:rte,runlocal", workdir, *common)
    before = (workdir / "eval_results.json").read_text()
    proc = cli("glue.py:rte,runlocal", workdir, *common, "--config.optim.learning_rate=1e-3", check=False)
    assert proc.returncode == 1 and "optim.learning_rate: 5e-05 → 0.001" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (workdir / "eval_results.json").read_text() == before
    # A changed evaluation cadence is allowed; allow_config_change accepts the new learning rate and records it.
    cli("glue.py:rte,runlocal", workdir, *common, "--config.log_every=1")
    cli("glue.py:rte,runlocal", workdir, *common, "--config.optim.learning_rate=1e-3",
        "--config.allow_config_change=True")
    assert json.loads((workdir / "config.json").read_text())["optim"]["learning_rate"] == 1e-3

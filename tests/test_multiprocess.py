"""Two real processes over loopback (gloo CPU collectives, 4 devices each) against one process with 8
devices: the same global batches, the same losses and params; SIGTERM to one host stops both at the
same step with a checkpoint, and the resumed run ends where the uninterrupted one does.

The two-process params are not bit-identical to the one-process ones: the gradient all-reduce runs
through gloo across processes instead of inside one XLA executable, so the sum is taken in another
order (measured: 1.2e-7 max difference after 6 steps). The tolerances below are a few float32 ulps of
the values involved, far below any real divergence (a batch fed in another order or with other masks
moves the loss in the third digit).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from bert_jax.checkpoint import Checkpointer
from tests.test_finetune import rte_folder
from tests.test_train import sigterm_until_gone
from tests.xla_env import xla_flags

# One xdist worker runs these in order: two multi-process runs at once would only compete for the cores.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("multiprocess")]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 30
ARGS = [f"--config={ROOT}/configs/pretrain_tiny.py:runlocal", f"--config.total_steps={STEPS}", "--config.log_every=1",
        "--config.data.dupe_factor=1"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _env(devices: int, **extra: str) -> dict:
    # The coordinator settings are each test's own; the host-memory setting is the suite's (conftest).
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("BERT_JAX_") or k == "BERT_JAX_KEEP_FREED_HOST_MEMORY"}
    # PYTHONFAULTHANDLER: a process aborted by the coordination service (e.g. its peer hung) prints every
    # thread's stack, so a failure says where each process was.
    env.update(JAX_PLATFORMS="cpu", XLA_FLAGS=xla_flags(devices),
               PYTHONFAULTHANDLER="1", **extra)
    return env


def _launch_two(workdir, *args: str) -> None:
    """Two processes by the GPU launcher's --local mode (the environment it gives nodes); on failure the
    message holds the end of both processes' logs (process 1's is written beside the workdir)."""
    launcher = subprocess.run(["bash", "launch/gpu_nodes.sh", "--local=2", f"--port={_free_port()}", "--", *args,
                               f"--workdir={workdir}"], cwd=ROOT, capture_output=True, text=True, env=_env(4),
                              timeout=900)
    if launcher.returncode != 0:
        second = f"{workdir}.p1.log"
        second_log = open(second, errors="replace").read() if os.path.exists(second) else "(no log)"
        pytest.fail(f"launcher exited {launcher.returncode}\n--- process 0 ---\n{launcher.stdout[-5000:]}"
                    f"{launcher.stderr[-2000:]}\n--- process 1 ({second}) ---\n{second_log[-5000:]}")


def _start_two(workdir, *overrides: str, program: tuple[str, ...] = ("-m", "bert_jax.main"),
               cwds=(ROOT, ROOT)) -> list[subprocess.Popen]:
    port = _free_port()
    return [subprocess.Popen([sys.executable, *program, *ARGS, f"--workdir={workdir}", *overrides],
                             cwd=cwds[i], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=_env(4, BERT_JAX_COORDINATOR=f"localhost:{port}", BERT_JAX_NUM_PROCESSES="2",
                                      BERT_JAX_PROCESS_ID=str(i)))
            for i in range(2)]


def _finish(processes: list[subprocess.Popen]) -> list[str]:
    """Waits for every process (killing all if one hangs); asserts each exited 0; returns the outputs."""
    outputs = []
    for p in processes:
        try:
            outputs.append(p.communicate(timeout=600)[0])
        except subprocess.TimeoutExpired:
            for q in processes:
                q.kill()
            raise
    for i, (p, out) in enumerate(zip(processes, outputs, strict=True)):
        assert p.returncode == 0, f"process {i} exited {p.returncode}:\n{out[-3000:]}"
    return outputs


def _run_one(workdir, *overrides: str) -> None:
    result = subprocess.run([sys.executable, "-m", "bert_jax.main", *ARGS, f"--workdir={workdir}", *overrides],
                            cwd=ROOT, capture_output=True, text=True, env=_env(8), timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]


def _metrics(workdir) -> list[dict]:
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def _params(workdir) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(Checkpointer(workdir).restore(None)["params"])]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two processes started by the GPU launcher's --local mode (the same environment it gives nodes;
    process 0 prepares the data while process 1 waits at the barrier), then one process with 8 devices
    on the same prepared data."""
    two, one = tmp_path_factory.mktemp("two"), tmp_path_factory.mktemp("one")
    _launch_two(two, *ARGS)
    _run_one(one, f"--config.data.dir={two / 'data'}")
    return two, one


def test_two_processes_match_one_process(runs):
    two, one = runs
    two_metrics, one_metrics = _metrics(two), _metrics(one)
    # One log for the run: process 1 wrote no lines of its own.
    assert [(m["step"], m["split"]) for m in two_metrics] == [(m["step"], m["split"]) for m in one_metrics]
    assert len([m for m in two_metrics if m["split"] == "train"]) == STEPS
    for a, b in zip(two_metrics, one_metrics, strict=True):
        for key in ("loss", "mlm_accuracy", "nsp_accuracy", "mlm_loss"):
            if key in a:
                np.testing.assert_allclose(a[key], b[key], rtol=2e-5, err_msg=f"step {a['step']} {a['split']} {key}")
    for a, b in zip(_params(two), _params(one), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-6)
    with open(two / "eval_results.json") as f, open(one / "eval_results.json") as g:
        two_results, one_results = json.load(f), json.load(g)
    assert two_results["masked_tokens"] == one_results["masked_tokens"]  # the same eval rows, all gathered
    np.testing.assert_allclose(two_results["mlm_loss"], one_results["mlm_loss"], rtol=2e-5)
    assert os.path.exists(two / "training_curves.png")


# Process 1 reaches the training loop `late` seconds (its first argument) after process 0, as when one host
# compiles slower or is busier: process 0 then waits in the first step's gradient all-reduce.
_LATE_SECOND_PROCESS = """
import sys, time
import jax
from absl import app
from bert_jax import main, train
late, run = float(sys.argv.pop(1)), train.Loop.run
def run_late(self, *args, **kwargs):
    if jax.process_index() == 1:
        time.sleep(late)
    return run(self, *args, **kwargs)
train.Loop.run = run_late
app.run(main.main)
"""


def test_a_late_host_own_data_then_sigterm_to_one_host_stops_both_and_the_resume_matches(runs, tmp_path):
    """Three promises of one preempted two-process run and its resume (two launches where they took three):

    - A host late to the first step does not fail the run. XLA:CPU's gloo connects a device group's peers the
      first time a program communicates over that group and waits only 30 s for the others (jaxlib 0.10), so a
      host that compiled the first step 40 s later used to fail the run ("Gloo context initialization failed",
      the gate of 2026-11-23). The groups are now connected at start-up while the processes are in step; after
      that a collective waits 30 min. Here process 1 enters the training loop 40 s after process 0.
    - Each host's data directory on its own disk (a relative config.data.dir, one working directory per
      process): process 0 finds the reference run's data, process 1 none, so it prepares its own copy with
      process 0's trained vocab (not trained again: a host's `tokenizers` version may differ) and feeds the
      same batches, as the losses show.
    - SIGTERM to one host (process 1 only, repeated until it exits) stops both at the same step with a
      checkpoint, and the resumed run ends where the uninterrupted one does: no step lost or repeated, the
      same losses and params."""
    _, one = runs
    hosts = [tmp_path / "host0", tmp_path / "host1"]
    for host in hosts:
        host.mkdir()
    (hosts[0] / "data").symlink_to(runs[0] / "data")
    workdir = tmp_path / "preempted"
    overrides = ["--config.data.dir=data", "--config.ckpt_every=1000", "--config.eval_every=1000"]
    processes = _start_two(workdir, *overrides, program=("-c", _LATE_SECOND_PROCESS, "40"), cwds=hosts)
    deadline = time.time() + 420
    while not (workdir / "metrics.jsonl").exists() or len(_metrics(workdir)) < 3:
        if time.time() > deadline or any(p.poll() is not None for p in processes):
            for p in processes:
                p.kill()
            outputs = [p.communicate()[0] for p in processes]
            pytest.fail("the run did not reach step 3 (exit codes "
                        f"{[p.returncode for p in processes]}):\n" +
                        "\n".join(f"--- process {i} ---\n{out[-4000:]}" for i, out in enumerate(outputs)))
        time.sleep(0.2)
    # Only the second host is told, again until it is gone: the repeats land in the agreed step, the save
    # and the teardown, and must not change the exit status.
    sigterm_until_gone(processes[1])
    outputs = _finish(processes)
    assert (hosts[1] / "data" / "meta.json").exists()  # process 1 prepared its own copy
    saved = Checkpointer(workdir).latest_step()
    assert saved is not None and 3 <= saved < STEPS, saved
    for out in outputs:
        assert f"SIGTERM: checkpoint of step {saved} written; exiting" in out
    _finish(_start_two(workdir, *overrides, cwds=hosts))  # resume to the end
    resumed = [(m["step"], m["loss"]) for m in _metrics(workdir) if m["split"] == "train"]
    assert [s for s, _ in resumed] == list(range(1, STEPS + 1))  # no step lost, none repeated
    reference = {m["step"]: m["loss"] for m in _metrics(one) if m["split"] == "train"}
    np.testing.assert_allclose([loss for _, loss in resumed], [reference[s] for s, _ in resumed], rtol=2e-5)
    for a, b in zip(_params(workdir), _params(one), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-6)


def test_fine_tuning_on_two_processes_scores_and_predicts_as_one(tmp_path, minilm_dir):
    """Eval rows are split over the hosts and all-gathered: the two-process run scores every dev example
    and writes the same prediction file as one process. Hand-made rows in RTE's layout (the real files
    are covered in test_finetune.py): 45 dev pairs, so the last eval batch is partly padding."""
    data = rte_folder(tmp_path, None, n=45)
    # The runlocal tiny model (MiniLM's vocab): what is shared across hosts is the eval rows, not the encoder.
    args = ["--config=configs/glue.py:rte,runlocal", f"--config.data.vocab={os.path.join(minilm_dir, 'vocab.txt')}",
            "--config.eval_batches=0", f"--config.data.dir={data}"]
    two, one = tmp_path / "two", tmp_path / "one"
    _launch_two(two, *args)
    single = subprocess.run([sys.executable, "-m", "bert_jax.main", *args, f"--workdir={one}"], cwd=ROOT,
                            capture_output=True, text=True, env=_env(8), timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]
    two_results = json.loads((two / "eval_results.json").read_text())
    one_results = json.loads((one / "eval_results.json").read_text())
    assert two_results["step"] == one_results["step"]
    np.testing.assert_allclose(two_results["accuracy"], one_results["accuracy"], rtol=0, atol=1e-12)
    dev = (two / "predictions" / "dev.tsv").read_text()
    assert dev == (one / "predictions" / "dev.tsv").read_text()
    n_dev = len(open(os.path.join(data, "dev.tsv")).readlines()) - 1
    assert len(dev.splitlines()) - 1 == n_dev  # every dev example, none twice

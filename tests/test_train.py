"""The trainer end to end on CPU: artifacts, resume after SIGKILL / SIGTERM, meshes, config errors."""

import importlib.util
import json
import os
import random
import signal
import subprocess
import sys
import time
from typing import NamedTuple

import jax
import numpy as np
import pytest

from bert_jax import train
from bert_jax.checkpoint import Checkpointer, PreemptionFlag
from tests.xla_env import cli_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(ROOT, "configs", "pretrain_tiny.py")


def load_config(arg="runlocal", **overrides):
    """configs/pretrain_tiny.py with ``overrides`` (dotted keys). On one device unless the test names a mesh or a
    device count: a CPU user's run (the meshes have their own tests; tests/xla_env.py)."""
    if "mesh" not in overrides:
        overrides.setdefault("num_devices", 1)
    spec = importlib.util.spec_from_file_location("pretrain_tiny", TINY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config(arg)
    for key, value in overrides.items():
        node = config
        *parents, leaf = key.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return config


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """Prepared once (vocab training + pairs from the stdlib docstrings), shared by the runs below."""
    directory = str(tmp_path_factory.mktemp("pretrain_data"))
    from bert_jax.tasks.pretrain import PretrainTask

    PretrainTask(load_config(**{"data.dir": directory}), directory)
    return directory


def final_params(workdir):
    return Checkpointer(workdir).restore(None)["params"]


def final_rng_shape(workdir):
    return np.shape(Checkpointer(workdir).restore(None)["rng"])


def assert_trees_equal(a, b, atol=0.0):
    flat_a, flat_b = jax.tree_util.tree_leaves_with_path(a), jax.tree_util.tree_leaves_with_path(b)
    assert [p for p, _ in flat_a] == [p for p, _ in flat_b]
    for (path, x), (_, y) in zip(flat_a, flat_b, strict=True):
        if atol:
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=atol, err_msg=str(path))
        else:
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=str(path))


@pytest.mark.slow
def test_quick_run_writes_everything_and_resumes(tmp_path, data_dir):
    workdir = str(tmp_path / "run")
    config = load_config(**{"data.dir": data_dir})
    results = train.run(config, workdir)
    for name in ("metrics.jsonl", "config.json", "eval_results.json", "training_curves.png"):
        assert os.path.getsize(os.path.join(workdir, name)) > 0, name
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(os.path.join(workdir, "tensorboard")))
    assert Checkpointer(workdir).latest_step() == config.total_steps
    assert 0 <= results["mlm_accuracy"] <= 1 and results["masked_tokens"] > 0
    train_lines = [json.loads(x) for x in open(os.path.join(workdir, "metrics.jsonl")) if '"train"' in x]
    assert [r["step"] for r in train_lines] == list(range(5, config.total_steps + 1, 5))
    assert train_lines[-1]["loss"] < train_lines[0]["loss"]
    # A second run finds the finished checkpoint: no training steps, only the evaluation again.
    again = train.run(config, workdir)
    after = [json.loads(x) for x in open(os.path.join(workdir, "metrics.jsonl")) if '"train"' in x]
    assert len(after) == len(train_lines) and again["mlm_accuracy"] == results["mlm_accuracy"]


@pytest.mark.slow
@pytest.mark.skipif(jax.device_count() < 8, reason="needs 8 devices")
def test_meshes_match_one_device(tmp_path, data_dir):
    """3 steps on (data=8), (data=2,fsdp=4), (data=2,fsdp=2,tensor=2) give the loss and params of one device."""
    common = {"data.dir": data_dir, "total_steps": 3, "log_every": 1, "eval_every": 100, "ckpt_every": 3,
              "batch_size": 16, "async_checkpointing": False}
    runs = {"one": ({"data": 1}, "dp", 1), "dp": ({"data": 8}, "dp", 0), "fsdp": ({"data": 2, "fsdp": 4}, "fsdp", 0),
            "fsdp_tp": ({"data": 2, "fsdp": 2, "tensor": 2}, "fsdp_tp", 0)}
    losses, params = {}, {}
    for name, (mesh, rules, n) in runs.items():
        workdir = str(tmp_path / name)
        train.run(load_config(**common, mesh=mesh, sharding=rules, num_devices=n), workdir)
        losses[name] = [json.loads(x)["loss"] for x in open(os.path.join(workdir, "metrics.jsonl")) if '"train"' in x]
        params[name] = final_params(workdir)
    for name in ("dp", "fsdp", "fsdp_tp"):
        np.testing.assert_allclose(losses[name], losses["one"], rtol=1e-5)
        assert_trees_equal(params[name], params["one"], atol=1e-5)


@pytest.mark.slow
@pytest.mark.skipif(jax.device_count() < 8, reason="needs 8 devices")
def test_restore_onto_another_mesh(tmp_path, data_dir):
    common = {"data.dir": data_dir, "log_every": 1, "eval_every": 100, "ckpt_every": 3, "batch_size": 16,
              "optim.schedule": "constant", "optim.warmup_steps": 0, "async_checkpointing": False}
    straight, split = str(tmp_path / "straight"), str(tmp_path / "split")
    train.run(load_config(**common, total_steps=6, mesh={"data": 8}, sharding="dp"), straight)
    train.run(load_config(**common, total_steps=3, mesh={"data": 8}, sharding="dp"), split)
    # Extending total_steps changes the config: allowed explicitly (the constant schedule keeps it exact).
    train.run(load_config(**common, total_steps=6, mesh={"data": 2, "fsdp": 2, "tensor": 2}, sharding="fsdp_tp",
                          allow_config_change=True), split)
    assert Checkpointer(split).latest_step() == 6
    assert_trees_equal(final_params(split), final_params(straight), atol=1e-5)


def _cli(workdir, data_dir, *extra):
    return [sys.executable, "-m", "bert_jax.main", f"--config={TINY}:runlocal", f"--workdir={workdir}",
            f"--config.data.dir={data_dir}", "--config.total_steps=30", "--config.ckpt_every=3",
            "--config.eval_every=100", "--config.log_every=1", *extra]


def _env():
    env = cli_env()
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _wait_for_step(workdir, step, process, timeout=240):
    path = os.path.join(workdir, "metrics.jsonl")
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert process.poll() is None, "the run ended before it could be interrupted"
        if os.path.exists(path):
            steps = [json.loads(x)["step"] for x in open(path) if '"train"' in x]
            if steps and steps[-1] >= step:
                return steps[-1]
        time.sleep(0.05)
    raise TimeoutError(f"step {step} not reached")


def sigterm_until_gone(process: subprocess.Popen, every: float = 0.05, timeout: float = 120) -> None:
    """SIGTERM to ``process`` every ``every`` seconds until it exits, as schedulers and kill loops repeat it."""
    deadline = time.time() + timeout
    while process.poll() is None and time.time() < deadline:
        process.send_signal(signal.SIGTERM)
        time.sleep(every)


class Reference(NamedTuple):
    params: dict
    compilation_cache: str


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, data_dir):
    """The 30-step run's final params; its compiled executables go to a cache directory of its own, which
    the killed run's restart below loads them from."""
    workdir = str(tmp_path_factory.mktemp("uninterrupted"))
    cache = str(tmp_path_factory.mktemp("compilation_cache"))
    subprocess.run(_cli(workdir, data_dir, f"--compilation_cache={cache}"), env=_env(), check=True,
                   capture_output=True)
    assert os.listdir(cache), "the CLI wrote no compiled executable to --compilation_cache"
    return Reference(final_params(workdir), cache)


@pytest.mark.slow
@pytest.mark.xdist_group("uninterrupted_run")  # one worker computes the shared fixture
def test_sigkill_then_restart_is_bit_identical(tmp_path, data_dir, uninterrupted):
    workdir = str(tmp_path / "killed")
    kill_at = random.Random().randint(5, 25)
    process = subprocess.Popen(_cli(workdir, data_dir), env=_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    _wait_for_step(workdir, kill_at, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    resumed_from = Checkpointer(workdir).latest_step()
    assert resumed_from is not None and resumed_from < 30
    # The restart runs the uninterrupted run's cached executables.
    subprocess.run(_cli(workdir, data_dir, f"--compilation_cache={uninterrupted.compilation_cache}"), env=_env(),
                   check=True, capture_output=True)
    assert_trees_equal(final_params(workdir), uninterrupted.params)


@pytest.mark.slow
@pytest.mark.xdist_group("uninterrupted_run")  # one worker computes the shared fixture
def test_repeated_sigterm_saves_exits_zero_and_resume_continues(tmp_path, data_dir, uninterrupted):
    workdir = str(tmp_path / "terminated")
    process = subprocess.Popen(_cli(workdir, data_dir), env=_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    reached = _wait_for_step(workdir, 10, process)
    # The repeats land in the step in flight, the synchronous save and the interpreter's teardown after it,
    # and none of them may spoil the save or the exit status (a repeat after the run had returned once
    # killed it: exit -15).
    sigterm_until_gone(process)
    _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr.decode()[-2000:]
    saved = Checkpointer(workdir).latest_step()
    assert reached <= saved < 30  # the step in flight finished and was saved
    subprocess.run(_cli(workdir, data_dir), env=_env(), check=True, capture_output=True)
    assert_trees_equal(final_params(workdir), uninterrupted.params)


def test_preemption_flag_gives_sigterm_back_unless_it_stopped_the_run():
    """In-process runs (a notebook, a script calling train.run) get their SIGTERM handler back after a run
    that ended normally; after a SIGTERM stop the process is on its way out and further SIGTERMs are ignored."""
    before = signal.getsignal(signal.SIGTERM)
    try:
        flag = PreemptionFlag()
        assert signal.getsignal(signal.SIGTERM) not in (before, signal.SIG_IGN) and not flag.stop_at(1)
        flag.restore_handler()
        assert signal.getsignal(signal.SIGTERM) is before
        flag = PreemptionFlag()
        signal.raise_signal(signal.SIGTERM)
        assert flag.stop_at(2)
        flag.restore_handler()
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, before)


def test_config_errors_before_any_compute(tmp_path, data_dir):
    with pytest.raises(ValueError, match="needs 3 devices but"):
        train.run(load_config(mesh={"data": 3}), str(tmp_path / "a"))
    with pytest.raises(ValueError, match="batch_size=10 is not divisible by the data-parallel size"):
        train.run(load_config(batch_size=10, mesh={"data": 4}, num_devices=4), str(tmp_path / "b"))
    with pytest.raises(FileNotFoundError, match="no corpus files match"):
        train.run(load_config(**{"data.source": "plain", "data.paths": str(tmp_path / "nothing*.txt")}),
                  str(tmp_path / "c"))
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(ValueError, match="has no documents"):
        train.run(load_config(**{"data.source": "plain", "data.paths": str(tmp_path / "empty.txt")}),
                  str(tmp_path / "d"))
    for d in "abcd":
        assert not os.path.exists(tmp_path / d / "checkpoints") or not os.listdir(tmp_path / d / "checkpoints")
    result = subprocess.run([sys.executable, "-m", "bert_jax.main", f"--config={TINY}:runlocal",
                             f"--workdir={tmp_path / 'e'}", "--config.optim.learnign_rate=1"],
                            env=_env(), capture_output=True, text=True)
    assert result.returncode != 0 and "learnign_rate" in result.stderr


@pytest.mark.slow
def test_init_from_workdir_and_hf_dir(tmp_path, data_dir, minilm_dir):
    """With lr 0 the run's final params are exactly what init_from loaded."""
    import bert_jax

    source = str(tmp_path / "source")
    train.run(load_config(**{"data.dir": data_dir}), source)
    trained = final_params(source)
    frozen = {"data.dir": data_dir, "optim.learning_rate": 0.0, "total_steps": 2, "eval_every": 100}

    continued = str(tmp_path / "continued")
    train.run(load_config(**frozen, init_from=source, init_head=True), continued)
    assert_trees_equal(final_params(continued), trained)

    hf_dir = str(tmp_path / "hf")
    from bert_jax.tasks.pretrain import PretrainTask

    model_config = PretrainTask(load_config(**{"data.dir": data_dir}), data_dir).model_config
    bert_jax.save_pretrained(trained, model_config, hf_dir)
    from_hf = str(tmp_path / "from_hf")
    train.run(load_config(**frozen, init_from=hf_dir), from_hf)
    loaded = final_params(from_hf)
    assert_trees_equal(loaded["bert"], trained["bert"])
    head_kernel = ("head", "predictions", "transform", "dense", "kernel")

    def pick(tree):
        for key in head_kernel:
            tree = tree[key]
        return np.asarray(tree)

    assert not np.array_equal(pick(loaded), pick(trained))  # without init_head the head starts fresh
    # ... as a run from scratch initialises it (init_from skips computing the encoder's random init).
    scratch = str(tmp_path / "scratch")
    train.run(load_config(**frozen), scratch)
    assert_trees_equal(loaded["head"], final_params(scratch)["head"])

    # MiniLM has 6 layers of width 384: another layer count (unrolled layers) or other widths (nn.scan)
    with pytest.raises(ValueError, match=r"bert params do not match the model's.*only in init_from \['encoder/layer_2"):
        train.run(load_config(**frozen, init_from=minilm_dir), str(tmp_path / "mismatch"))
    with pytest.raises(ValueError, match=r"bert shapes differ from the model's"):
        train.run(load_config(**frozen, init_from=minilm_dir, **{"model.scan_layers": True}),
                  str(tmp_path / "mismatch_scan"))
    # A workdir saved with unrolled layers initialises a run that scans them (and gives the same encoder).
    scanned = str(tmp_path / "scanned")
    train.run(load_config(**frozen, init_from=source, **{"model.scan_layers": True}), scanned)
    stacked = final_params(scanned)["bert"]["encoder"]["layer"]
    np.testing.assert_array_equal(stacked["output"]["dense"]["kernel"][1],
                                  trained["bert"]["encoder"]["layer_1"]["output"]["dense"]["kernel"])


@pytest.mark.slow
def test_packed_pretraining_runs_with_rbg_keys(tmp_path):
    """pack_per_row=3: short pairs share rows; the run trains and evaluates NSP per packed pair. It also
    runs on config.prng_impl='unsafe_rbg' (the fast GPU dropout keys): the saved key is an rbg key."""
    config = load_config(**{"data.pack_per_row": 3, "data.short_seq_prob": 0.5, "data.max_seq_length": 64,
                            "data.max_predictions_per_seq": 10, "data.dir": str(tmp_path / "data"),
                            "prng_impl": "unsafe_rbg"})
    try:
        results = train.run(config, str(tmp_path / "run"))
    finally:  # the key implementation is process-global: later tests in this worker expect JAX's default
        jax.config.update("jax_default_prng_impl", "threefry2x32")
    assert final_rng_shape(str(tmp_path / "run")) == (4,)  # threefry2x32 keys are (2,)
    assert 0 <= results["nsp_accuracy"] <= 1 and results["masked_tokens"] > 0
    lines = [json.loads(x) for x in open(os.path.join(str(tmp_path / "run"), "metrics.jsonl")) if '"train"' in x]
    assert lines[-1]["loss"] < lines[0]["loss"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pretrain_base", "pretrain_large"])
def test_paper_configs_load_and_base_runs_locally(tmp_path, name, request):
    """Both recipe configs build at phase 1 and 2; base's :runlocal trains 2 steps end to end (large is the
    same code at 3× the size, too slow for CI on CPU) on the docstring pairs this module prepared once (its
    own runlocal data differs only in vocab size and duplication, and preparing it took a quarter of the test)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "configs", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    phase2 = module.get_config("phase=2")
    assert (phase2.data.max_seq_length, phase2.data.max_predictions_per_seq, phase2.init_head) == (512, 80, True)
    assert module.get_config(None).optim.name == "bert_adam" and module.get_config(None).batch_size == 256
    if name == "pretrain_base":
        config = module.get_config("runlocal")
        # One device: with the suite's 8 host devices, data parallelism would hold 8 copies of BERT-base's
        # params and Adam moments (~10 GB of host memory) for no extra coverage (test_sharding has the meshes).
        config.total_steps, config.num_devices = 2, 1
        config.data = load_config(**{"data.dir": request.getfixturevalue("data_dir")}).data
        results = train.run(config, str(tmp_path / "run"))
        assert Checkpointer(str(tmp_path / "run")).latest_step() == 2 and results["masked_tokens"] > 0


class _Poisoned:
    """Training batches where the listed steps carry a NaN masked_lm weight (so a NaN loss and gradients)."""

    def __init__(self, dataset, steps):
        self.dataset, self.steps = dataset, set(steps)

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, k):
        batch = dict(self.dataset[k])
        if k in self.steps:
            batch["masked_lm_weights"] = np.array(batch["masked_lm_weights"], np.float32)
            batch["masked_lm_weights"][0, 0] = np.nan
        return batch


@pytest.mark.slow
def test_a_nonfinite_step_is_skipped_counted_and_never_saved(tmp_path, data_dir, monkeypatch):
    """Step 3 (0-based 2) of 4 has a NaN loss: its update is skipped, so the run ends with the params of
    steps 1, 2 and 4's updates; with the same data minus the poison, a 2-step run gives step 2's params,
    which the poisoned run holds at its step-3 checkpoint. metrics.jsonl counts the skipped step;
    nonfinite='stop' ends the run with a clear error instead."""
    original = train.host_batches
    monkeypatch.setattr(train, "host_batches", lambda task, config, split: _Poisoned(
        original(task, config, split), [2]) if split == "train" else original(task, config, split))
    common = {"data.dir": data_dir, "log_every": 1, "eval_every": 100, "ckpt_every": 1, "keep_checkpoints": 5,
              "optim.schedule": "constant", "optim.warmup_steps": 0, "async_checkpointing": False}
    poisoned = str(tmp_path / "poisoned")
    train.run(load_config(**common, total_steps=4), poisoned)
    lines = [json.loads(x) for x in open(os.path.join(poisoned, "metrics.jsonl")) if '"train"' in x]
    assert [x["skipped_steps"] for x in lines] == [0, 0, 1, 0]
    assert all(np.isfinite(x["loss"]) for x in lines if not x["skipped_steps"])
    checkpointer = Checkpointer(poisoned)
    for step in (1, 2, 3, 4):
        leaves = jax.tree_util.tree_leaves(checkpointer.restore(None, step=step))
        assert all(np.isfinite(np.asarray(x)).all() for x in leaves if np.issubdtype(np.asarray(x).dtype, np.floating))
    clean = str(tmp_path / "clean")
    train.run(load_config(**common, total_steps=2), clean)
    assert_trees_equal(checkpointer.restore(None, step=3)["params"], final_params(clean))
    assert_trees_equal(checkpointer.restore(None, step=3)["opt_state"], Checkpointer(clean).restore(None)["opt_state"])

    with pytest.raises(FloatingPointError, match=r"non-finite loss or gradients at 1 of steps 3\.\.3"):
        train.run(load_config(**common, total_steps=4, nonfinite="stop"), str(tmp_path / "stop"))


def _damage(step_dir, how):
    """Truncates (to half) or deletes the largest file of a checkpoint step."""
    files = [os.path.join(d, f) for d, _, names in os.walk(step_dir) for f in names]
    largest = max(files, key=os.path.getsize)
    if how == "truncate":
        with open(largest, "r+b") as f:
            f.truncate(os.path.getsize(largest) // 2)
    else:
        os.remove(largest)
    return largest


@pytest.mark.slow
def test_an_unreadable_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, data_dir, caplog):
    """Damage the newest checkpoint: the run warns, sets it aside, resumes from the one before and ends
    bit-identical to the undamaged run. With every checkpoint damaged it stops with a clear error."""
    from bert_jax.checkpoint import CheckpointError

    config = load_config(**{"data.dir": data_dir}, total_steps=4, ckpt_every=2, keep_checkpoints=3, log_every=2,
                         eval_every=100, async_checkpointing=False)
    workdir = str(tmp_path / "run")
    train.run(config, workdir)
    reference = final_params(workdir)
    _damage(os.path.join(workdir, "checkpoints", "4"), "truncate")
    train.run(config, workdir)
    assert "checkpoint" in caplog.text and "/4 cannot be read" in caplog.text
    assert os.path.isdir(os.path.join(workdir, "unreadable_checkpoints", "4"))
    assert_trees_equal(final_params(workdir), reference)

    _damage(os.path.join(workdir, "checkpoints", "4"), "delete")
    _damage(os.path.join(workdir, "checkpoints", "2"), "truncate")
    with pytest.raises(CheckpointError, match=r"no checkpoint in .*checkpoints can be read: step 4 \(.*; step 2 \("):
        train.run(config, workdir)


@pytest.mark.slow
@pytest.mark.xdist_group("uninterrupted_run")  # one worker computes the shared fixture
@pytest.mark.parametrize("moment", ["checkpoint save starts", "evaluation starts"])
def test_sigkill_inside_a_save_or_an_evaluation_then_restart_is_bit_identical(tmp_path, data_dir, uninterrupted,
                                                                               moment):
    """SIGKILL the moment the second async save (or evaluation) begins, read from the run's own log."""
    workdir = str(tmp_path / "killed")
    process = subprocess.Popen(_cli(workdir, data_dir, "--config.eval_every=6", "--config.eval_batches=2"),
                               env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = 0
    for line in process.stdout:
        if moment in line:
            seen += 1
            if seen == 2:
                process.send_signal(signal.SIGKILL)
                break
    process.wait()
    assert seen == 2 and process.returncode == -signal.SIGKILL
    subprocess.run(_cli(workdir, data_dir, "--config.eval_every=6", "--config.eval_batches=2"), env=_env(),
                   check=True, capture_output=True)
    assert_trees_equal(final_params(workdir), uninterrupted.params)

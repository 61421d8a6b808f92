"""Runs a grid of fine-tuning runs (runs × learning rates × seeds) and tabulates them: mean ± std over
seeds of every metric in each run's eval_results.json, in a markdown table and a plot.

    python -m bert_jax.sweep --workdir=runs/sweep \
        --run="--config=configs/glue.py:rte --config.data.dir=glue_data/RTE --config.init_from=CKPT" \
        --run="--config=configs/glue.py:mrpc --config.data.dir=glue_data/MRPC --config.init_from=CKPT" \
        --learning_rates=5e-5,3e-5,2e-5 --seeds=0,1,2 [--parallel=2] [--collect_only]

Each run is ``python -m bert_jax.main`` in its own process and workdir
(``<workdir>/<label>/lr<lr>_seed<seed>``, label = the config's argument); finished runs are skipped,
so a sweep resumes. Writes ``results.md``, ``results.json`` and ``sweep.png`` into ``--workdir``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time

import numpy as np
from absl import app, flags, logging

from bert_jax.io_utils import atomic_path, write_json, write_text


def label_of(run_args: list[str]) -> str:
    """'configs/glue.py:rte,runlocal' → 'glue_rte_runlocal'."""
    config = next((a.split("=", 1)[1] for a in run_args if a.startswith("--config=")), None)
    if config is None:
        raise ValueError(f"--run={shlex.join(run_args)!r} has no --config=...")
    path, _, arg = config.partition(":")
    stem = os.path.splitext(os.path.basename(path))[0]
    return re.sub(r"[^A-Za-z0-9.]+", "_", f"{stem}_{arg}" if arg else stem).strip("_")


def plan(workdir: str, runs: list[str], lrs: list[str], seeds: list[str]) -> list[tuple[str, list[str]]]:
    """(run directory, command) for every grid point: seed by seed, and within a seed learning rate by learning
    rate, the runs (tasks) innermost. A train step is one program for every learning rate and seed (its inputs
    differ, not its code), so runs that go at once (``--parallel``) are other tasks where there are several, each
    compiling its own programs, and every later grid point loads them from the persistent compilation cache."""
    parsed = [(args, label_of(args)) for args in map(shlex.split, runs)]  # every --run checked before any runs
    out = []
    for seed in seeds:
        for lr in lrs:
            for args, label in parsed:
                directory = os.path.join(workdir, label, f"lr{lr}_seed{seed}")
                cmd = [sys.executable, "-m", "bert_jax.main", *args, f"--workdir={directory}",
                       f"--config.optim.learning_rate={lr}", f"--config.seed={seed}"]
                out.append((directory, cmd))
    return out


def execute(jobs: list[tuple[str, list[str]]], parallel: int, poll_seconds: float = 0.5) -> list[str]:
    """Runs the unfinished jobs in order, ``parallel`` at a time: the next starts as soon as any running one
    ends (not when the oldest does, which left a slot idle behind a long run). Each logs to <run dir>.log.
    Returns the failures' directories."""
    pending = [(d, c) for d, c in jobs if not os.path.exists(os.path.join(d, "eval_results.json"))]
    running, failed = [], []
    while pending or running:
        while pending and len(running) < parallel:
            directory, cmd = pending.pop(0)
            os.makedirs(os.path.dirname(directory), exist_ok=True)
            logging.info("running %s", shlex.join(cmd))
            log = open(directory + ".log", "w")
            running.append((directory, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log))
        finished = [job for job in running if job[1].poll() is not None]
        if not finished:
            time.sleep(poll_seconds)
        for job in finished:
            directory, process, log = job
            running.remove(job)
            log.close()
            if process.returncode != 0:
                failed.append(directory)
                logging.error("failed (exit %d): see %s.log", process.returncode, directory)
    return failed


def collect(workdir: str) -> list[dict]:
    """One row per (label, lr): metric → (mean, std, n) over the seeds that finished."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for label in sorted(os.listdir(workdir)):
        if not os.path.isdir(os.path.join(workdir, label)):
            continue
        for name in sorted(os.listdir(os.path.join(workdir, label))):
            match = re.fullmatch(r"lr(.+)_seed(\d+)", name)
            path = os.path.join(workdir, label, name, "eval_results.json")
            if match and os.path.exists(path):
                with open(path, encoding="utf-8") as f:
                    groups.setdefault((label, match.group(1)), []).append(json.load(f))
    rows = []
    for (label, lr), results in sorted(groups.items(), key=lambda kv: (kv[0][0], float(kv[0][1]))):
        names = [k for k, v in results[0].items() if isinstance(v, (int, float)) and k != "step"]
        stats = {k: (float(np.mean([r[k] for r in results])), float(np.std([r[k] for r in results])), len(results))
                 for k in names if all(k in r for r in results)}
        rows.append({"run": label, "learning_rate": lr, "selected_by": results[0].get("selected_by"),
                     "metrics": stats})
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| run | lr | seeds | metrics (mean ± std) |", "|---|---|---|---|"]
    for row in rows:
        cells = ", ".join(f"{k} {m:.4f} ± {s:.4f}" for k, (m, s, _) in row["metrics"].items())
        n = max((v[2] for v in row["metrics"].values()), default=0)
        lines.append(f"| {row['run']} | {row['learning_rate']} | {n} | {cells} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: str) -> None:
    """The selection metric (else the first metric) against the learning rate, one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for label in sorted({r["run"] for r in rows}):
        mine = [r for r in rows if r["run"] == label]
        metric = mine[0]["selected_by"] or next(iter(mine[0]["metrics"]))
        points = [(float(r["learning_rate"]), *r["metrics"][metric][:2]) for r in mine if metric in r["metrics"]]
        x, mean, std = (np.array(v) for v in zip(*points, strict=True))
        ax.errorbar(x, mean, yerr=std, marker="o", capsize=3, label=f"{label} ({metric})")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("dev metric (mean ± std over seeds)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def _define_flags() -> dict:
    """The CLI's flags, defined only when this module runs as a script: as a library (``plan``, ``execute``,
    ``collect``) it is importable beside bert_jax.main, whose --workdir would otherwise be defined twice."""
    return {
        "workdir": flags.DEFINE_string("workdir", None, "Sweep directory."),
        "runs": flags.DEFINE_multi_string("run", [], "bert_jax.main arguments of one run (quoted), repeatable."),
        "lrs": flags.DEFINE_list("learning_rates", ["5e-5", "3e-5", "2e-5"], "Learning rates."),
        "seeds": flags.DEFINE_list("seeds", ["0", "1"], "Seeds."),
        "parallel": flags.DEFINE_integer("parallel", 1, "Runs at a time (separate processes)."),
        "collect_only": flags.DEFINE_bool("collect_only", False, "Only tabulate the runs already in --workdir."),
    }


def main(argv, cli: dict) -> None:
    del argv
    workdir = cli["workdir"].value
    failed = []
    if not cli["collect_only"].value:
        if not cli["runs"].value:
            raise app.UsageError("give at least one --run")
        try:  # a --run without --config is the user's mistake: one line (as main.py's), before any run starts
            grid = plan(workdir, cli["runs"].value, cli["lrs"].value, cli["seeds"].value)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(1)
        failed = execute(grid, cli["parallel"].value)
    rows = collect(workdir)
    if not rows:
        raise SystemExit(f"no finished runs under {workdir}")
    write_json(os.path.join(workdir, "results.json"), rows)
    write_text(os.path.join(workdir, "results.md"), table(rows))
    plot(rows, os.path.join(workdir, "sweep.png"))
    print(table(rows))
    if failed:
        raise SystemExit(f"{len(failed)} runs failed: {failed}")


if __name__ == "__main__":
    _cli = _define_flags()
    flags.mark_flags_as_required(["workdir"])
    app.run(lambda argv: main(argv, _cli))

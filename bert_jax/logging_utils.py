"""Run logs: metrics.jsonl (one JSON object per write), TensorBoard events, a console progress line,
and a PNG of the training curves at the end."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Callable

log = logging.getLogger("bert_jax")


def _summary_writer_class():
    """tensorboardX's SummaryWriter, imported without torch. tensorboardX tries ``import torch`` at import
    time only to accept torch tensors; we log Python floats, and where torch is installed (the test extras,
    most GPU images) that import costs 2-8 s of every run's start, on process 0 only, while the other
    processes wait in the first collective. Hiding torch for that one import leaves tensorboardX on numpy."""
    if "tensorboardX" in sys.modules or "torch" in sys.modules:
        from tensorboardX import SummaryWriter
        return SummaryWriter
    sys.modules["torch"] = None  # makes ``import torch`` raise ImportError, which tensorboardX handles
    try:
        from tensorboardX import SummaryWriter
    finally:
        del sys.modules["torch"]
    return SummaryWriter


_CONSOLE_KEYS = ("loss", "mlm_accuracy", "nsp_accuracy", "learning_rate", "step_time", "tokens_per_second", "mfu")


def format_duration(seconds: float) -> str:
    """12 s, 3m05s, 2h07m: what a progress line shows."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    """Steps done of the run, percent, and the time left at the pace since the first report of this
    process (so the first step's compilation does not inflate it; evaluations and checkpoints in between
    are part of the pace, as they will be of the time left)."""

    def __init__(self, total_steps: int, clock: Callable[[], float] = time.perf_counter):
        self.total, self.clock = total_steps, clock
        self._since: tuple[int, float] | None = None

    def describe(self, done: int) -> str:
        now = self.clock()
        text = f"{done}/{self.total} {100 * done / self.total:.0f}%"
        if self._since is None:
            self._since = (done, now)
            return text
        first, then = self._since
        if done <= first:
            return text
        return f"{text} eta {format_duration((now - then) / (done - first) * (self.total - done))}"


class MetricsLogger:
    """Writes on process 0 only (the values are global: every process holds the same ones); with
    ``enabled=False`` (the other processes) it does nothing, so one run has one log."""

    def __init__(self, workdir: str, enabled: bool = True):
        self.path = os.path.join(workdir, "metrics.jsonl")
        self.enabled = enabled
        if not enabled:
            return
        SummaryWriter = _summary_writer_class()
        self._file = open(self.path, "a", encoding="utf-8")
        self._writer = SummaryWriter(os.path.join(workdir, "tensorboard"))

    def write(self, step: int, split: str, values: dict, progress: str = "") -> None:
        """One record of metrics.jsonl and TensorBoard; the console line adds ``progress`` (e.g.
        '500/1500 33% eta 3m20s')."""
        if not self.enabled:
            return
        self._file.write(json.dumps({"step": step, "split": split, **values}) + "\n")
        self._file.flush()
        for key, value in values.items():
            if isinstance(value, (int, float)):
                self._writer.add_scalar(f"{split}/{key}", value, step)
        self._writer.flush()
        shown = [f"{k}={_fmt(values[k])}" for k in _CONSOLE_KEYS if k in values]
        if split != "train":
            shown = [f"{k}={_fmt(v)}" for k, v in values.items()]
        log.info("step %s %s %s", progress or step, split, " ".join(shown))

    def close(self) -> None:
        if not self.enabled:
            return
        self._file.close()
        self._writer.close()


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def read_metrics(workdir: str) -> list[dict]:
    path = os.path.join(workdir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def plot_curves(workdir: str, filename: str = "training_curves.png") -> str:
    """Loss and accuracies of train and eval against step, as one PNG in the workdir."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_metrics(workdir)
    keys = [k for k in ("loss", "mlm_loss", "mlm_accuracy", "nsp_accuracy") if any(k in r for r in records)]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.5), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        for split in ("train", "eval"):
            points = [(r["step"], r[key]) for r in records if r["split"] == split and key in r]
            if points:
                xs, ys = zip(*sorted(dict(points).items()), strict=True)
                ax.plot(xs, ys, marker="o" if split == "eval" else None, label=split)
        ax.set_title(key)
        ax.set_xlabel("step")
        ax.legend()
    fig.tight_layout()
    path = os.path.join(workdir, filename)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

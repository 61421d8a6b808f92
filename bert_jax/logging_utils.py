"""Run logs: metrics.jsonl (one JSON object per write), TensorBoard events, a console progress line,
and a PNG of the training curves at the end."""

from __future__ import annotations

import json
import logging
import os
import sys

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

    def write(self, step: int, split: str, values: dict) -> None:
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
        log.info("step %d %s %s", step, split, " ".join(shown))

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

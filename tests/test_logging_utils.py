"""The run log: metrics.jsonl and TensorBoard events hold what was written, and opening the log does not
import torch (tensorboardX would, at 2-8 s per run start, where torch is installed)."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tfrecords(path: str) -> list[bytes]:
    """The payloads of a TFRecord file (uint64 length, uint32 CRC, payload, uint32 CRC)."""
    records = []
    with open(path, "rb") as f:
        while header := f.read(12):
            (length,) = struct.unpack("<Q", header[:8])
            records.append(f.read(length))
            f.read(4)
    return records


def test_metrics_logger_writes_jsonl_and_tensorboard_scalars_without_importing_torch(tmp_path):
    pytest.importorskip("torch")  # the point of the check: torch is installed but stays unimported
    script = ("import sys; from bert_jax.logging_utils import MetricsLogger\n"
              f"m = MetricsLogger({str(tmp_path)!r}); m.write(3, 'train', {{'loss': 1.5, 'note': 'x'}}); m.close()\n"
              "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "False", out.stdout + out.stderr

    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"step": 3, "split": "train", "loss": 1.5, "note": "x"}]

    from tensorboardX.proto import event_pb2  # TensorBoard's Event message, to read the file back

    (events_file,) = os.listdir(tmp_path / "tensorboard")
    scalars = []
    for record in _tfrecords(str(tmp_path / "tensorboard" / events_file)):
        event = event_pb2.Event.FromString(record)
        scalars += [(event.step, v.tag, v.simple_value) for v in event.summary.value]
    assert scalars == [(3, "train/loss", 1.5)]  # strings are not scalars: only the loss


def test_progress_shows_percent_and_the_time_left_at_the_pace_since_the_first_report():
    from bert_jax.logging_utils import Progress, format_duration

    now = [100.0]
    progress = Progress(total_steps=1000, clock=lambda: now[0])
    assert progress.describe(10) == "10/1000 1%"  # the first report: compile time is no pace
    now[0] += 30.0  # 90 steps in 30 s → 1/3 s a step → 900 steps left ≈ 300 s
    assert progress.describe(100) == "100/1000 10% eta 5m00s"
    now[0] += 60.0  # 400 steps more: 490 steps in 90 s; 500 left → 500 · 90/490 = 91.8 s
    assert progress.describe(500) == "500/1000 50% eta 1m32s"
    assert progress.describe(1000).startswith("1000/1000 100% eta 0s")
    assert [format_duration(s) for s in (0, 59.4, 61, 3599, 7620)] == ["0s", "59s", "1m01s", "59m59s", "2h07m"]

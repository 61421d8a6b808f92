"""One table for every benchmark: per-step time, examples/s, real (non-padding) tokens/s, MFU, ratio."""

from __future__ import annotations

import dataclasses

import jax

from bert_jax import flops


@dataclasses.dataclass
class Timing:
    name: str
    step_seconds: float  # median over timed steps
    examples: int  # per step
    real_tokens: int  # non-padding tokens per step
    model_flops: float  # per step, useful work only (flops.py), the same count for every row
    ours: bool

    @property
    def spread(self) -> float | None:
        """Slowest / fastest timed step, where the timing carried it (timing.Seconds)."""
        return getattr(self.step_seconds, "spread", None)


def header(title: str, dtype: str) -> None:
    device = jax.devices()[0]
    print(f"{title}, {dtype}, {jax.device_count()} × {device.device_kind}, jax {jax.__version__}")


def print_table(rows: list[Timing]) -> None:
    kind = jax.devices()[0].device_kind
    print(f"{'':60s} {'step ms':>9s} {'max/min':>8s} {'ex/s':>9s} {'tokens/s':>11s} {'MFU':>6s}")
    for row in rows:
        utilisation = flops.mfu(row.model_flops, row.step_seconds, 1, kind)
        mfu_text = f"{100 * utilisation:5.1f}%" if utilisation is not None else "   n/a"
        spread = f"{row.spread:7.2f}x" if row.spread else f"{'n/a':>8s}"
        print(f"{row.name:60s} {1e3 * row.step_seconds:9.2f} {spread} {row.examples / row.step_seconds:9.1f} "
              f"{row.real_tokens / row.step_seconds:11.0f} {mfu_text}")
    ours = [r for r in rows if r.ours]
    peers = [r for r in rows if not r.ours]
    if ours and peers:
        best_ours = max(ours, key=lambda r: r.real_tokens / r.step_seconds)
        best_peer = max(peers, key=lambda r: r.real_tokens / r.step_seconds)
        ratio = (best_ours.real_tokens / best_ours.step_seconds) / (best_peer.real_tokens / best_peer.step_seconds)
        print(f"ratio ours/peer (real tokens/s, best of each): {ratio:.2f}x  [{best_ours.name} / {best_peer.name}]")

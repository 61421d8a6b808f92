"""Kernel kinds for the profiler: what each XLA op or PyTorch kernel of a step does, and the per-step table.

XLA ops are named after their HLO instruction (``fusion.12``, ``input_scatter_fusion_2``, ``custom-call.3``);
the compiled module's text says what the instruction (and the computation a fusion calls) contains, so
the kind comes from the HLO, not from the name. Library kernels that XLA or PyTorch call (cuBLAS, cuDNN,
Triton, ATen) are classified by name patterns.
"""

from __future__ import annotations

import collections
import dataclasses
import re

KINDS = ("matmul", "attention", "reductions", "elementwise", "converts/copies", "scatter/gather", "rng", "other")

# HLO markers, first match wins: a fusion with a dot in it is a matmul whatever else it fuses.
_HLO_MARKERS = (
    ("attention", ("__cudnn$fmha", "splash", "flash_attention", "mha")),
    ("matmul", (" dot(", " convolution(", "__cublas$", "cublas", "__triton_gemm", "gemm_fusion")),
    ("scatter/gather", (" scatter(", " gather(", " dynamic-update-slice(")),
    ("rng", (" rng-bit-generator(", " rng(", "shift-right-logical(", "threefry", "philox")),
    ("reductions", (" reduce(", " reduce-window(", " all-reduce(")),
)
# Ops that only move or re-type data.
_MOVE_OPS = {"convert", "copy", "transpose", "bitcast", "broadcast", "reshape", "slice", "dynamic-slice",
             "concatenate", "pad", "parameter", "constant", "tuple", "get-tuple-element", "iota", "copy-start",
             "copy-done", "bitcast-convert"}

# Library kernel names (lower case), first match wins.
_NAME_PATTERNS = (
    ("attention", ("flash", "fmha", "sdpa", "scaled_dot_product", "attention", "cudnn_generated")),
    ("matmul", ("gemm", "cutlass", "nvjet", "xmma", "cublas", "aten::mm", "aten::addmm", "aten::bmm",
                "aten::matmul", "aten::linear", "aten::baddbmm", "dot_general", "sm90_", "sm80_")),
    ("rng", ("philox", "bernoulli", "rand", "dropout", "rng", "threefry")),
    ("scatter/gather", ("scatter", "gather", "index", "embedding")),
    ("converts/copies", ("copy", "convert", "transpose", "contiguous", "aten::to", "aten::cat", "memcpy", "memset",
                         "clone")),
    ("reductions", ("reduce", "norm", "softmax", "aten::sum", "aten::mean", "triton_per_", "triton_red_",
                    "cross_entropy", "nll_loss", "aten::max", "argmax")),
)


def hlo_instructions(hlo_text: str) -> dict[str, str]:
    """{instruction name: its line plus the body of the computation it calls (fusions)}."""
    bodies, lines, current = {}, {}, None
    for line in hlo_text.splitlines():
        header = re.match(r"^(?:ENTRY )?%?([\w.\-$]+) .*\{\s*$", line)
        if header and " = " not in line:
            current = header.group(1)
            bodies[current] = []
            continue
        if current is not None:
            bodies[current].append(line)
        inst = re.match(r"\s*(?:ROOT )?%?([\w.\-]+) = ", line)
        if inst:
            lines[inst.group(1)] = line
    out = {}
    for name, line in lines.items():
        called = re.search(r"calls=%?([\w.\-]+)", line)
        out[name] = line + "\n" + "\n".join(bodies.get(called.group(1), ())) if called else line
    return out


def kind_of_hlo(text: str) -> str:
    """Kind of an HLO instruction from its text (and its fused body)."""
    for kind, markers in _HLO_MARKERS:
        if any(marker in text for marker in markers):
            return kind
    ops = set(re.findall(r"= \S+ ([a-z][\w\-]*)\(", text)) | set(re.findall(r"= \([^)]*\) ([a-z][\w\-]*)\(", text))
    ops.discard("fusion")
    if ops and ops <= _MOVE_OPS:
        return "converts/copies"
    if "custom-call" in ops:
        return "other"
    return "elementwise"


def kind_of_name(name: str) -> str:
    """Kind of a library kernel (cuBLAS, cuDNN, Triton, ATen) from its name."""
    lower = name.lower()
    for kind, patterns in _NAME_PATTERNS:
        if any(p in lower for p in patterns):
            return kind
    return "elementwise"


@dataclasses.dataclass
class KernelTable:
    """Per-step kernel time of one side: {kernel name: (kind, µs summed over the profiled steps, calls)}."""

    side: str
    steps: int
    wall_us: float  # wall time of the profiled steps
    busy_us: float  # union of kernel intervals (device busy); on CPU the summed op time
    kernels: dict[str, list] = dataclasses.field(default_factory=dict)

    def add(self, name: str, kind: str, duration_us: float) -> None:
        entry = self.kernels.setdefault(name, [kind, 0.0, 0])
        entry[1] += duration_us
        entry[2] += 1

    @property
    def total_us(self) -> float:
        return sum(e[1] for e in self.kernels.values())

    def by_kind(self) -> dict[str, float]:
        """ms per step per kind."""
        totals = collections.Counter()
        for kind, us, _ in self.kernels.values():
            totals[kind] += us / 1e3 / self.steps
        return {k: totals[k] for k in KINDS if totals[k]}

    def largest(self, n: int = 25) -> list[tuple[str, str, float, float]]:
        """(name, kind, ms per step, calls per step) of the n largest kernels."""
        rows = sorted(self.kernels.items(), key=lambda item: -item[1][1])[:n]
        return [(name, kind, us / 1e3 / self.steps, calls / self.steps) for name, (kind, us, calls) in rows]


def busy_time(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of [start, start + duration) intervals."""
    total, end = 0.0, float("-inf")
    for start, duration in sorted(intervals):
        stop = start + duration
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total


def format_table(table: KernelTable, n: int = 25) -> str:
    per_step = table.total_us / 1e3 / table.steps
    wall = table.wall_us / 1e3 / table.steps
    lines = [f"{table.side}: {wall:.2f} ms wall per step, {per_step:.2f} ms kernel time per step, "
             f"busy {100 * table.busy_us / table.wall_us:.0f}% of wall"]
    for kind, ms in table.by_kind().items():
        lines.append(f"  {kind:18s} {ms:9.3f} ms  {100 * ms / per_step:5.1f}%")
    lines.append(f"  {n} largest kernels (ms per step, calls per step, kind):")
    for name, kind, ms, calls in table.largest(n):
        lines.append(f"    {ms:9.3f} {calls:6.1f}  {kind:16s} {name[:100]}")
    return "\n".join(lines)

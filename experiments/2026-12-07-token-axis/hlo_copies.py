"""Copies and transposes in the compiled BERT-base pretraining step (bench pretrain's program), grouped by
shape and source op, with the old products (``old``) or today's.

    JAX_PLATFORMS=cpu python experiments/2026-12-07-token-axis/hlo_copies.py [old|new]
"""

from __future__ import annotations

import collections
import pathlib
import re
import sys

import numpy as np

HERE = pathlib.Path(__file__).parent
sys.path[:0] = [str(HERE), str(HERE.parent / "2026-12-07-pretrain-step-floor")]
from old_products import old_products  # noqa: E402
from step_variants import lowered_variant  # noqa: E402

BYTES = {"f32": 4, "s32": 4, "u32": 4, "pred": 1, "bf16": 2, "u8": 1}


def step_hlo() -> str:
    """The optimised HLO of step_variants.py's BERT-base step (dropout 0.1, AdamW): bench pretrain's step."""
    lowered, _, _ = lowered_variant(0.1, 0.1, True, {})
    return lowered.compile().as_text()


def nbytes(shape: str) -> int:
    total = 0
    for dtype, dims in re.findall(r"(f32|s32|u32|pred|bf16|u8)\[([0-9,]*)\]", shape):
        total += int(np.prod([int(d) for d in dims.split(",") if d])) * BYTES[dtype]
    return total


def main() -> None:
    with old_products(sys.argv[1:] == ["old"]):
        text = step_hlo()
    entry = next(c for c in re.split(r"\n(?=\S)", text) if c.startswith("ENTRY"))
    groups = collections.defaultdict(lambda: [0, 0])
    for line in entry.splitlines():
        match = re.match(r"\s*(?:ROOT )?%(\S+) = (\S+) ", line)
        if not match or not match.group(1).startswith(("copy", "transpose")):
            continue
        op = re.search(r'op_name="([^"]*)"', line)
        op = re.sub(r"layer_\d+", "layer_N", op.group(1) if op else "?")
        key = (match.group(2).split("{")[0], op[-80:])
        groups[key][0] += 1
        groups[key][1] += nbytes(match.group(2))
    for (shape, op), (count, size) in sorted(groups.items(), key=lambda kv: -kv[1][1]):
        if size > 1e6:
            print(f"{size / 1e6:8.1f} MB x{count:3d} {shape:22s} {op}")
    print(f"copies and transposes: {sum(size for _, size in groups.values()) / 1e6:.1f} MB written per step")


if __name__ == "__main__":
    main()

"""A/A control for the in-process step A/Bs (step_ab.py, nested_jit_ab.py, barrier_ab.py): one train step
compiled twice from the same code, each copy with its own state, run in interleaved rounds exactly as the A/Bs
run theirs. Any paired ratio away from 1 is the method's bias, not a code effect.

    JAX_PLATFORMS=cpu python experiments/2026-12-07-step-compile/aa_control.py minilm 9
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "2026-12-06-dropout-draws"))
from bert_jax import host_memory  # noqa: E402

host_memory.keep_freed_memory()  # as the CLI's train loop runs (and as the A/Bs ran)

from step_ab import compile_variants, interleaved_rounds, prepared, report  # noqa: E402


def main() -> None:
    what, rounds = sys.argv[1], int(sys.argv[2])
    model, task, tx, device_batches = prepared(what)
    steps, states, _ = compile_variants(model, task, tx, device_batches, {"first": lambda: None,
                                                                          "second": lambda: None})
    times, _ = interleaved_rounds(steps, states, device_batches, rounds)
    report(times, "second", "first")  # the same program: any ratio away from 1 is the method's


if __name__ == "__main__":
    main()

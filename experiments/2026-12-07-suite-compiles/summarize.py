"""Summarises events.jsonl written by sitecustomize.py (this folder) during a test-suite run: XLA compile,
trace and lowering seconds in all, by program name, by test, and the one-op programs (< 0.1 s) that eager
(op-by-op) JAX code compiles.

    rm -f /tmp/jaxmon/events.jsonl; mkdir -p /tmp/jaxmon
    PYTHONPATH=experiments/2026-12-07-suite-compiles pytest -q -n auto --maxprocesses=4 --dist=loadgroup
    python experiments/2026-12-07-suite-compiles/summarize.py /tmp/jaxmon/events.jsonl
"""

from __future__ import annotations

import collections
import json
import sys


def main(path: str) -> None:
    events = [json.loads(line) for line in open(path, encoding="utf-8")]
    compiles = [e for e in events if e["event"].endswith("backend_compile_duration")]
    totals = collections.Counter()
    for e in events:
        if e["event"] != "exit":
            totals[e["event"].rsplit("/", 1)[-1]] += e["s"]
    print({k: round(v) for k, v in totals.items()})
    seconds = [e["s"] for e in compiles]
    print(f"{len(seconds)} compiles, {sum(seconds):.0f} s; under 0.1 s: {sum(s < 0.1 for s in seconds)} "
          f"({sum(s for s in seconds if s < 0.1):.0f} s); over 1 s: {sum(s > 1 for s in seconds)} "
          f"({sum(s for s in seconds if s > 1):.0f} s)")
    by_program, count = collections.Counter(), collections.Counter()
    for e in compiles:
        by_program[e["fun"]] += e["s"]
        count[e["fun"]] += 1
    for name, s in by_program.most_common(10):
        print(f"{s:7.1f} s {count[name]:5d}x {name}")
    by_test = collections.Counter()
    for e in compiles:
        by_test[e["test"].split(" (")[0]] += e["s"]
    for name, s in by_test.most_common(25):
        print(f"{s:7.1f} s {name}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/jaxmon/events.jsonl")

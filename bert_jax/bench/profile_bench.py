"""Where a step's time goes: ours under jax.profiler, the peer under torch.profiler, kernel time by kind.

    python -m bert_jax.bench profile pretrain --size=base --seq=128 --batch=256 --out=prof/
    python -m bert_jax.bench profile infer --size=base --seq=128 --batch=128 --attention=cudnn
    python -m bert_jax.bench profile finetune --size=base --batch=32 --steps=8

The steps profiled are the benchmarks' own (bench/runners.py: the same model, batch, optimizer and
jitted step as ``bench pretrain|infer|finetune``), warmed up first. Per side it prints wall and kernel time
per step, the share of wall time some kernel was running (on a GPU the union of kernel intervals; on a
CPU XLA's ops run on several threads, so their summed time can exceed the wall), kernel time by kind
(matmul, attention, reductions, elementwise, converts/copies, scatter/gather, rng) and the ``--top``
largest kernels; ``--out`` gets every kernel of each side (TSV), the totals (JSON) and the raw traces.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import shutil
import tempfile
import time

import jax
import numpy as np

from bert_jax.bench import finetune_bench, infer_bench, kernels, peer, pretrain_bench, report
from bert_jax.bench.runners import Runner, ours_train_step, peer_train_step
from bert_jax.data import widths
from bert_jax.models.heads import BertWithHead, PretrainingHeads
from bert_jax.tasks.pretrain import PretrainingStep


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=("pretrain", "infer", "finetune"), help="which benchmark's step")
    pretrain_bench.add_common_arguments(parser, seq=128, batch=8)
    parser.add_argument("--steps", type=int, default=8, help="finetune: batches per profiled epoch")
    finetune_bench.add_lengths_argument(parser)
    parser.add_argument("--profile-steps", type=int, default=3, help="steps traced per side (after warm-up)")
    parser.add_argument("--top", type=int, default=25, help="largest kernels listed per side")
    parser.add_argument("--out", default="", help="directory for the full tables and traces")


def _runners(args) -> tuple[Runner, list[tuple[str, callable]]]:
    """Ours (first --attention implementation) and a factory per peer mode, for the chosen benchmark."""
    dtype = pretrain_bench.compute_dtype(args)
    implementation = args.attention.split(",")[0]
    config, ours_config = pretrain_bench.model_config(args), pretrain_bench.model_config(args, implementation)
    modes = [] if args.no_peer or not peer.available() else args.peer_modes.split(",")
    if args.what == "pretrain":
        lengths = pretrain_bench.example_lengths(np.random.default_rng(0), args.batch, args.seq, 0.0)
        batch = pretrain_bench.padded_batch(config, lengths, args.seq)
        ours = ours_train_step(BertWithHead(ours_config, PretrainingHeads(ours_config)), PretrainingStep(), [batch])
        peers = [(m, lambda m=m: peer_train_step(peer.compiled(pretrain_bench.peer_pretraining_model(config), m),
                                                 [pretrain_bench.peer_tensors(batch)], dtype, eps=1e-6,
                                                 weight_decay=0.01)) for m in modes]
    elif args.what == "infer":
        batch = infer_bench.random_batch(config, args.batch, args.seq)
        ours = infer_bench.ours_forward(ours_config, batch)
        peers = [(m, lambda m=m: infer_bench.peer_forward(config, batch, dtype, m)) for m in modes]
    else:
        ids, types, labels, _ = finetune_bench.examples(config.vocab_size, args.batch * args.steps, args.lengths)
        ours = finetune_bench.ours_epoch(ours_config, finetune_bench.padded_batches(
            ids, types, labels, args.batch, widths.DEFAULT_MULTIPLE, args.seq, widths.DEFAULT_LIMIT))
        batches = finetune_bench.padded_batches(ids, types, labels, args.batch, 8, args.seq)
        peers = [(m, lambda m=m: finetune_bench.peer_epoch(config, batches, dtype, m)) for m in modes]
    return ours, peers


def _calls(runner: Runner, steps: int) -> int:
    return max(1, -(-steps // runner.steps))


def _timed(runner: Runner, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        runner.call()
    return (time.perf_counter() - start) * 1e6


def _trace_layout(events: list[dict]) -> tuple[dict, dict]:
    """{pid: process name}, {(pid, tid): thread name} from the trace's metadata events."""
    processes, threads = {}, {}
    for e in events:
        if e.get("ph") == "M" and e.get("name") == "process_name":
            processes[e["pid"]] = e.get("args", {}).get("name", "")
        elif e.get("ph") == "M" and e.get("name") == "thread_name":
            threads[(e["pid"], e.get("tid"))] = e.get("args", {}).get("name", "")
    return processes, threads


def profile_ours(runner: Runner, steps: int, trace_dir: str) -> kernels.KernelTable:
    """XLA ops (CPU) or device kernels (GPU) of ``steps`` steps, kinds read from the compiled HLO."""
    for _ in range(2):  # compile, then warm up
        runner.call()
    runner.check()
    instructions = kernels.hlo_instructions(runner.hlo())
    calls = _calls(runner, steps)
    with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
        wall = _timed(runner, calls)
    path = glob.glob(os.path.join(trace_dir, "**", "perfetto_trace.json.gz"), recursive=True)[0]
    with gzip.open(path) as f:
        trace = json.load(f)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    processes, threads = _trace_layout(events)
    on_device = jax.devices()[0].platform != "cpu"
    device_pids = {pid for pid, name in processes.items() if "/device:" in name}
    # On a GPU, kernels sit on "Stream" threads; the "XLA Ops" line spans the same time under op names.
    streams = {key for key, name in threads.items() if key[0] in device_pids and "stream" in name.lower()}
    table = kernels.KernelTable("bert_jax", calls * runner.steps, wall, 0.0)
    intervals = []
    for e in events:
        if e.get("ph") != "X":
            continue
        name = e.get("name", "")
        op = e.get("args", {}).get("hlo_op", name)
        if on_device:
            key = (e["pid"], e.get("tid"))
            if e["pid"] not in device_pids or (streams and key not in streams):
                continue
        elif op not in instructions:  # CPU: the host's own work (Python, dispatch) is not an XLA op
            continue
        kind = kernels.kind_of_hlo(instructions[op]) if op in instructions else kernels.kind_of_name(name)
        table.add(name if on_device else op, kind, float(e.get("dur", 0)))
        intervals.append((float(e["ts"]), float(e.get("dur", 0))))
    table.busy_us = kernels.busy_time(intervals) if on_device else table.total_us
    return table


def _self_times(ops: list[dict]) -> list[tuple[str, float]]:
    """(name, self µs) of nested CPU op events: each op's time less that of the ops directly inside it."""
    out = []
    by_thread: dict = {}
    for e in ops:
        by_thread.setdefault((e["pid"], e["tid"]), []).append(e)
    for thread_ops in by_thread.values():
        thread_ops.sort(key=lambda e: (e["ts"], -e["dur"]))
        own = [float(e["dur"]) for e in thread_ops]
        stack: list[tuple[float, int]] = []
        for i, e in enumerate(thread_ops):
            while stack and stack[-1][0] <= e["ts"]:
                stack.pop()
            if stack:
                own[stack[-1][1]] -= e["dur"]
            stack.append((e["ts"] + e["dur"], i))
        out += [(e["name"], t) for e, t in zip(thread_ops, own, strict=True)]
    return out


def profile_peer(runner: Runner, steps: int, trace_path: str, side: str) -> kernels.KernelTable:
    """CUDA kernels (GPU) or ATen ops' self time (CPU) of ``steps`` steps under torch.profiler."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    for _ in range(3):  # torch.compile compiles and autotunes on the first calls
        runner.call()
    cuda = torch.cuda.is_available()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    calls = _calls(runner, steps)
    with profile(activities=activities) as prof:
        wall = _timed(runner, calls)
    prof.export_chrome_trace(trace_path)
    with open(trace_path) as f:
        events = [e for e in json.load(f)["traceEvents"] if e.get("ph") == "X"]
    table = kernels.KernelTable(side, calls * runner.steps, wall, 0.0)
    if cuda:
        device = [e for e in events if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")]
        for e in device:
            table.add(e["name"], kernels.kind_of_name(e["name"]), float(e["dur"]))
        table.busy_us = kernels.busy_time([(float(e["ts"]), float(e["dur"])) for e in device])
    else:
        for name, own in _self_times([e for e in events if e.get("cat") == "cpu_op"]):
            table.add(name, kernels.kind_of_name(name), own)
        table.busy_us = table.total_us
    return table


def _write(out: str, table: kernels.KernelTable, stem: str) -> None:
    with open(os.path.join(out, f"{stem}.tsv"), "w") as f:
        f.write("kernel\tkind\tms_per_step\tcalls_per_step\n")
        for name, kind, ms, calls in table.largest(len(table.kernels)):
            f.write(f"{name}\t{kind}\t{ms:.6f}\t{calls:g}\n")
    with open(os.path.join(out, f"{stem}.json"), "w") as f:
        json.dump({"side": table.side, "steps": table.steps, "wall_ms_per_step": table.wall_us / 1e3 / table.steps,
                   "kernel_ms_per_step": table.total_us / 1e3 / table.steps, "busy_fraction": table.busy_us /
                   table.wall_us, "ms_per_step_by_kind": table.by_kind()}, f, indent=1)


def run(args) -> int:
    dtype = pretrain_bench.compute_dtype(args)
    report.header(f"profile of the {args.what} step: BERT-{args.size}, batch {args.batch} × seq {args.seq}", dtype)
    out = args.out or tempfile.mkdtemp(prefix="bert_jax_profile_")
    os.makedirs(out, exist_ok=True)
    ours, peers = _runners(args)
    tables = [profile_ours(ours, args.profile_steps, os.path.join(out, "jax_trace"))]
    del ours  # free the accelerator memory for the peer
    for mode, make in peers:
        tables.append(profile_peer(make(), args.profile_steps, os.path.join(out, f"torch_trace_{mode}.json"),
                                   f"HF {mode}"))
    for table in tables:
        print(kernels.format_table(table, args.top))
        _write(out, table, table.side.replace(" ", "_"))
    if not args.out:
        shutil.rmtree(out)
    else:
        print(f"full tables and traces: {out}")
    return 0

"""BERT-base and BERT-large pretraining, phases 1 and 2, compiled by XLA:TPU for v5e, v4 and v5p slices on a
CPU (python -m bert_jax.aot's compile_train_step: the trainer's own step), with the paper's global batch of
256 sequences, bf16 compute, splash attention (no attention dropout), data parallelism over every device.

    python experiments/2026-11-28-tpu-aot/run.py [--out=experiments/2026-11-28-tpu-aot/results.json]

Per row: memory per device at that batch, the per-device batch that would fit (linear estimate: the
temporaries and the batch's own bytes grow with the batch, params and optimizer state do not), and the step
time the analytic FLOPs take at 45% MFU. Results are appended to --out as each compile finishes.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # libtpu describes the topologies; no TPU backend is wanted

from bert_jax import aot  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TOPOLOGIES = ("v5e:2x2", "v4:2x2x1", "v5p:2x2x1")


def paper_config(size: str, phase: int):
    spec = importlib.util.spec_from_file_location("cfg", os.path.join(ROOT, "configs", f"pretrain_{size}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config(f"phase={phase}")
    config.model.dtype = "bfloat16"
    config.model.attention_implementation = "splash"
    config.model.attention_probs_dropout_prob = 0.0
    config.data.vocab_size = 30522  # the uncased BERT vocab
    return config


def fitting_batch(report: aot.Report) -> int:
    """Largest per-device batch whose peak stays under HBM, if memory grows linearly with the batch."""
    per_device = report.global_batch // report.devices
    batch_bytes = report.global_batch * report.seq * 4 * 3 // report.devices  # ids, types, mask (int32)
    fixed = report.peak_bytes - report.temp_bytes - batch_bytes
    per_sequence = (report.temp_bytes + batch_bytes) / per_device
    return int((report.hbm_bytes - fixed) // per_sequence)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.path.join(HERE, "results.json"))
    parser.add_argument("--only", default="", help="comma-separated size:phase:topology rows to run")
    args = parser.parse_args()
    results = json.load(open(args.out)) if os.path.exists(args.out) else []
    done = {(r["size"], r["phase"], r["topology"]) for r in results}
    for size in ("base", "large"):
        for phase in (1, 2):
            for topology in TOPOLOGIES:
                key = (size, phase, topology)
                if key in done or (args.only and ":".join(map(str, key)) not in args.only.split(",")):
                    continue
                report, _ = aot.compile_train_step(paper_config(size, phase), aot.topology_devices(topology),
                                                   topology=topology)
                row = {"size": size, "phase": phase, "topology": topology, "device_kind": report.device_kind,
                       "devices": report.devices, "chips": report.chips, "seq": report.seq,
                       "batch_per_device": report.global_batch // report.devices,
                       "peak_gib": report.peak_bytes / 2**30, "hbm_gib": report.hbm_bytes / 2**30,
                       "arguments_gib": report.argument_bytes / 2**30, "temp_gib": report.temp_bytes / 2**30,
                       "fits": report.fits, "fitting_batch_per_device": fitting_batch(report),
                       "analytic_flops": report.analytic_flops,
                       "compiled_flops": report.compiled_flops * report.devices,
                       "predicted_ms_at_45": 1e3 * report.predicted_step_seconds}
                print(json.dumps(row), flush=True)
                results.append(row)
                with open(args.out, "w") as f:
                    json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()

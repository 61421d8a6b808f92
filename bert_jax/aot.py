"""Compile the trainer's train step for a TPU topology on a machine without a TPU, and say whether it fits.

    pip install -e ".[tpu]"
    python -m bert_jax.aot --config=configs/pretrain_base.py --topology=v5e:4x4 \\
        --config.model.dtype=bfloat16 --config.model.attention_implementation=splash \\
        --config.model.attention_probs_dropout_prob=0.0

libtpu (the `tpu` extra) describes the topology's chips (jax.experimental.topologies); the mesh is built
from them as train.py builds it from jax.devices() (config.mesh, config.sharding), and the very function
train.py jits (train.jit_train_step: same shardings, donation, optimizer chain) is lowered on the config's
global batch shapes and compiled by XLA:TPU. Printed: the mesh, per-chip memory (arguments, outputs,
temporaries) against the chip's HBM, compiled and analytic FLOPs per step, and the step time those FLOPs
would take at ``--mfu``. Exit 0 if it fits, 2 if it does not, 1 with one line on a bad config or topology.

The batch shapes come from the pretraining featurizer (tasks/pretrain.abstract_train_batch), so no corpus
is read; fine-tuning configs need their data to know their shapes and are refused with a clear message.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import logging
import os
import re
import sys

from absl import app, flags
from ml_collections import config_flags

# The compile needs libtpu's description of the topology, not this machine's accelerators: never take a local
# TPU (a training run may hold it), and let several compiling processes load libtpu at once (its lockfile
# admits one process per machine otherwise).
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file (ml_collections), with ':args'.",
                                          lock_config=True)
_TOPOLOGY = flags.DEFINE_string("topology", None, "TPU topology as <chip>:<shape>, e.g. v5e:2x2, v4:2x2x2, v5p:2x2x4")
_MFU = flags.DEFINE_float("mfu", 0.45, "model FLOPs utilisation at which the step time is predicted")
_HBM_GIB = flags.DEFINE_float("hbm_gib", 0.0, "HBM per chip in GiB (default: from the chip's kind)")
_VOCAB_SIZE = flags.DEFINE_integer("vocab_size", 0, "vocab size (default: config.data.vocab's, else data.vocab_size)")

# HBM per chip (GiB) by the device_kind libtpu reports; first match wins.
HBM_GIB: tuple[tuple[str, float], ...] = (
    ("tpu v5 lite", 16.0),  # v5e
    ("tpu v6 lite", 32.0),  # v6e (Trillium)
    ("tpu v5p", 95.0),
    ("tpu v5", 95.0),  # v5p reports itself as "TPU v5"
    ("tpu v4", 32.0),
    ("tpu v3", 32.0),  # two cores of 16 GiB
)
_CHIP_NAMES = {"v5e": "v5e", "v5litepod": "v5e", "v6e": "v6e", "v5p": "v5p", "v4": "v4", "v3": "v3"}


class UserError(ValueError):
    """A mistake in the command line: printed as one line, exit 1."""


@dataclasses.dataclass
class Report:
    topology: str
    device_kind: str
    devices: int  # what JAX shards over: chips, or TensorCores where libtpu lists each (v4)
    chips: int
    mesh: dict[str, int]
    global_batch: int
    seq: int
    argument_bytes: int
    output_bytes: int
    alias_bytes: int
    temp_bytes: int
    code_bytes: int
    hbm_bytes: float  # per device
    compiled_flops: float | None  # per device, XLA's cost analysis
    analytic_flops: float  # per step, all chips (flops.py)
    predicted_step_seconds: float | None

    @property
    def peak_bytes(self) -> int:
        """Live bytes per device at the step's peak: inputs, outputs not aliased to donated inputs,
        temporaries and the program."""
        return self.argument_bytes + self.output_bytes - self.alias_bytes + self.temp_bytes + self.code_bytes

    @property
    def fits(self) -> bool:
        return self.peak_bytes <= self.hbm_bytes


def parse_topology(name: str) -> tuple[str, str]:
    """'v5e:4x4' → ('v5e', '4x4'): the chip name and its grid, checked before libtpu sees them."""
    match = re.fullmatch(r"([a-z0-9]+):(\d+(?:x\d+){1,2})", name or "")
    if not match or match.group(1) not in _CHIP_NAMES:
        raise UserError(f"--topology={name!r}; expected <chip>:<grid> with chip one of {sorted(_CHIP_NAMES)}, "
                        "e.g. v5e:2x2, v4:2x2x2, v5p:2x2x4")
    return _CHIP_NAMES[match.group(1)], match.group(2)


def topology_devices(name: str) -> list:
    """The chips of a TPU topology, described by libtpu (no TPU needed)."""
    chip, grid = parse_topology(name)
    if importlib.util.find_spec("libtpu") is None:
        raise UserError("libtpu is not installed: pip install -e '.[tpu]'")
    from jax.experimental import topologies

    try:
        return list(topologies.get_topology_desc(f"{chip}:{grid}", platform="tpu").devices)
    except Exception as e:  # noqa: BLE001  (libtpu's errors have no common type; its first line says why)
        raise UserError(f"--topology={name!r}: libtpu cannot describe it ({str(e).strip().splitlines()[0]})") from None


def hbm_bytes(device_kind: str, override_gib: float = 0.0) -> float:
    """HBM of one chip."""
    if override_gib > 0:
        return override_gib * 2**30
    for key, gib in HBM_GIB:
        if key in device_kind.lower():
            return gib * 2**30
    raise UserError(f"HBM of {device_kind!r} is not known here; give --hbm_gib")


def pretraining_vocab_size(config, override: int = 0) -> int:
    """The vocab the run will have: a given vocab file's size, else the size the WordPiece trainer aims at."""
    if override:
        return override
    if config.data.vocab and os.path.exists(config.data.vocab):
        from bert_jax.data.tokenizer import load_tokenizer

        return load_tokenizer(config.data.vocab, lowercase=config.data.lowercase).vocab_size
    return int(config.data.vocab_size)


def check_supported(config) -> None:
    if config.task.name != "pretrain":
        raise UserError(f"config.task.name={config.task.name!r}: aot compiles pretraining configs; a fine-tuning "
                        "task's batch shapes come from its data, which this command does not read")


def compile_train_step(config, devices: list, hbm: float | None = None, vocab_size: int = 0, mfu: float = 0.45,
                       topology: str = ""):
    """Lowers and compiles train.py's train step for ``devices`` → (Report, compiled executable)."""
    import flax.linen as nn
    import jax
    import numpy as np

    from bert_jax import flops, sharding
    from bert_jax import step as steps
    from bert_jax.models.heads import BertWithHead, PretrainingHeads
    from bert_jax.run_plan import check_batch_sizes, schedule_steps
    from bert_jax.tasks import pretrain
    from bert_jax.train import jit_train_step, optimizer_for, sharded_shapes

    check_supported(config)
    mesh = sharding.make_mesh(dict(config.mesh), dict(config.dcn_mesh) or None, devices)
    check_batch_sizes(config, dict(mesh.shape))
    rules = sharding.get_rules(config.sharding)
    model_config = pretrain.pretraining_model_config(config, pretraining_vocab_size(config, vocab_size))
    model = BertWithHead(model_config, PretrainingHeads(model_config))
    total_steps, warmup_steps, _ = schedule_steps(config, task=None)
    schedule, tx = optimizer_for(config, total_steps, warmup_steps)
    task = pretrain.PretrainingStep()
    batch = pretrain.abstract_train_batch(config)
    example = {k: np.zeros((1, *v.shape[1:]), v.dtype) for k, v in batch.items()}  # init reads shapes only
    create = functools.partial(steps.create_state, model=model, tx=tx, example=example, task=task)
    jax.config.update("jax_default_prng_impl", config.prng_impl)
    with sharding.mesh_context(mesh), nn.logical_axis_rules(rules):
        abstract = jax.eval_shape(lambda: create(jax.random.PRNGKey(0)))
        state_shardings = nn.logical_to_mesh_sharding(nn.get_partition_spec(abstract), mesh, rules)
        data_sharding = sharding.batch_sharding(mesh)
        state = sharded_shapes(abstract, state_shardings)
        batch = {k: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=data_sharding) for k, v in batch.items()}
        schedule_values = jax.ShapeDtypeStruct(schedule.values.shape, schedule.values.dtype)
        compiled = jit_train_step(model, task, tx, state_shardings, data_sharding).lower(
            state, batch, schedule_values).compile()
    memory = compiled.memory_analysis()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    data = config.data
    analytic = config.batch_size * flops.pretraining_flops_per_sequence(model_config, data.max_seq_length,
                                                                         data.max_predictions_per_seq)
    kind = devices[0].device_kind
    # libtpu lists v4's two TensorCores per chip as two devices (v5p's megacore as one): they share its HBM.
    chips = len({(getattr(d, "slice_index", 0), *d.coords) for d in devices})
    peak = flops.peak_flops(kind)  # per chip
    predicted = analytic / (chips * peak * mfu) if peak else None
    per_device_hbm = (hbm if hbm is not None else hbm_bytes(kind)) * chips / len(devices)
    report = Report(topology, kind, len(devices), chips, dict(mesh.shape), config.batch_size, data.max_seq_length,
                    memory.argument_size_in_bytes, memory.output_size_in_bytes, memory.alias_size_in_bytes,
                    memory.temp_size_in_bytes, memory.generated_code_size_in_bytes, per_device_hbm,
                    (cost or {}).get("flops"), analytic, predicted)
    return report, compiled


def format_report(r: Report, mfu: float) -> str:
    gib = lambda b: f"{b / 2**30:7.2f} GiB"  # noqa: E731
    cores = f" ({r.chips} chips × {r.devices // r.chips} TensorCores)" if r.devices != r.chips else ""
    lines = [
        f"topology {r.topology}: {r.devices} × {r.device_kind}{cores}; mesh {r.mesh}",
        f"global batch {r.global_batch} × seq {r.seq} ({r.global_batch / r.devices:g} sequences per device)",
        "memory per device:",
        f"  arguments (params, optimizer state, batch) {gib(r.argument_bytes)}",
        f"  outputs                                    {gib(r.output_bytes)}"
        f" ({gib(r.alias_bytes).strip()} aliased to donated arguments)",
        f"  temporaries                                {gib(r.temp_bytes)}",
        f"  program                                    {gib(r.code_bytes)}",
        f"  peak                                       {gib(r.peak_bytes)} of {gib(r.hbm_bytes).strip()} HBM "
        f"({100 * r.peak_bytes / r.hbm_bytes:.0f}%)",
        f"FLOPs per step: analytic {r.analytic_flops:.4g} (model FLOPs, flops.py), compiled "
        + (f"{r.compiled_flops * r.devices:.4g} ({r.compiled_flops:.4g} per device, XLA's count)"
           if r.compiled_flops else "n/a"),
    ]
    if r.predicted_step_seconds:
        lines.append(f"predicted step time at {100 * mfu:.0f}% MFU: {1e3 * r.predicted_step_seconds:.3g} ms "
                     f"({r.global_batch / r.predicted_step_seconds:,.0f} sequences/s)")
    lines.append("fits: yes" if r.fits else "fits: NO (peak above HBM)")
    return "\n".join(lines)


def main(argv) -> None:
    del argv
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        check_supported(_CONFIG.value)
        devices = topology_devices(_TOPOLOGY.value)
        report, _ = compile_train_step(_CONFIG.value, devices, _HBM_GIB.value * 2**30 if _HBM_GIB.value else None,
                                       _VOCAB_SIZE.value, _MFU.value, _TOPOLOGY.value)
    except (UserError, ValueError, FileNotFoundError) as e:
        print(f"bert_jax.aot: {e}", file=sys.stderr)
        sys.exit(1)
    print(format_report(report, _MFU.value))
    sys.exit(0 if report.fits else 2)


if __name__ == "__main__":
    flags.mark_flags_as_required(["config", "topology"])
    app.run(main)

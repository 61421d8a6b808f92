"""The run's arithmetic before anything is built: settings checked against the process count and the mesh,
the number of steps (epochs over the task's training set, or total_steps), warmup, and the cadence of
evaluation and checkpoints."""

from __future__ import annotations

import dataclasses
import math

import jax

from bert_jax.config_base import PRNG_IMPLS


def check_run_settings(config) -> None:
    """Errors in the run's own settings that need no compute: steps, policies, batch divisibility by the
    process count."""
    if config.total_steps <= 0 and not config.num_train_epochs:
        raise ValueError(f"config.total_steps must be positive (or config.num_train_epochs set), got "
                         f"{config.total_steps}")
    if config.nonfinite not in ("skip", "stop"):
        raise ValueError(f"config.nonfinite={config.nonfinite!r}; expected 'skip' or 'stop'")
    prng_impl = config.prng_impl
    if prng_impl not in PRNG_IMPLS:
        raise ValueError(f"config.prng_impl={prng_impl!r}; expected one of {PRNG_IMPLS}")
    data = config.get("data", {})
    for name in ("pad_to_multiple_of", "max_widths"):
        if name in data and (not isinstance(data[name], int) or data[name] < 0):
            raise ValueError(f"config.data.{name}={data[name]!r}; expected an integer ≥ 0 (0: "
                             f"{'pad to max_seq_length' if name == 'pad_to_multiple_of' else 'every multiple'})")
    for name in ("batch_size", "eval_batch_size"):  # both are global: each process feeds its equal share
        if config[name] % jax.process_count():
            raise ValueError(f"config.{name}={config[name]} is not divisible by {jax.process_count()} processes")


def check_batch_sizes(config, mesh_shape: dict[str, int]) -> None:
    """Global batches split evenly over the data-parallel devices (data × fsdp)."""
    data_parallel = mesh_shape["data"] * mesh_shape["fsdp"]
    for name in ("batch_size", "eval_batch_size"):
        if config[name] % data_parallel:
            raise ValueError(f"config.{name}={config[name]} is not divisible by the data-parallel size "
                             f"{data_parallel} (mesh {mesh_shape})")
    data = config.get("data", {})
    if data.get("pack_per_row", 1) > 1 and "packed_row_multiple" in data:  # packed fine-tuning: rows split
        for name, size in (("data-parallel size", data_parallel), ("process count", jax.process_count())):
            if data.packed_row_multiple % size:
                raise ValueError(f"config.data.packed_row_multiple={data.packed_row_multiple} is not divisible "
                                 f"by the {name} {size}")


def schedule_steps(config, task) -> tuple[int, int, int]:
    """(total steps, warmup steps, steps per epoch): ``total_steps`` when positive, else ``num_train_epochs``
    over the task's training examples (fine-tuning); warmup as ``optim.warmup_fraction`` of the total when
    set, else ``optim.warmup_steps``. Steps per epoch is 0 for endless streams (no ``num_train_epochs``).

    total_steps wins because a fine-tuning config sets num_train_epochs and a user who also passes
    ``--config.total_steps=N`` asks for N steps: epochs used to win, so such a run silently trained 3 epochs.
    """
    epochs = config.num_train_epochs
    per_epoch = math.ceil(task.num_train_examples / config.batch_size) if epochs else 0
    total = config.total_steps if config.total_steps > 0 else math.ceil(epochs * task.num_train_examples /
                                                                        config.batch_size)
    fraction = config.optim.warmup_fraction
    warmup = round(fraction * total) if fraction else config.optim.warmup_steps
    return total, warmup, per_epoch


@dataclasses.dataclass
class Cadence:
    """How long a run trains and how often it evaluates and checkpoints, in steps."""

    total_steps: int
    eval_every: int
    ckpt_every: int


def cadence(config, total_steps: int, steps_per_epoch: int) -> Cadence:
    """config.eval_every / ckpt_every, where ≤ 0 means once per epoch."""
    result = Cadence(total_steps, config.eval_every if config.eval_every > 0 else steps_per_epoch,
                     config.ckpt_every if config.ckpt_every > 0 else steps_per_epoch)
    if result.eval_every <= 0 or result.ckpt_every <= 0:
        raise ValueError("config.eval_every / ckpt_every ≤ 0 (once per epoch) needs config.num_train_epochs")
    return result

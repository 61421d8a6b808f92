"""Orbax checkpoints of the whole TrainState (params, optimizer state, step = data position, RNG).

Saves are asynchronous and keep the newest ``max_to_keep``; Orbax writes each step to a temporary
directory and renames it when complete, so a crash mid-save never leaves a step that restore would pick.
Restore targets carry the current shardings: a checkpoint restores onto any mesh.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import signal
from typing import Any

import jax
import orbax.checkpoint as ocp

from bert_jax.io_utils import write_json

log = logging.getLogger(__name__)


def describe_error(e: Exception) -> str:
    """One line for a log or results file: the type and the first line of the message."""
    return f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"


class CheckpointError(RuntimeError):
    """No checkpoint of the workdir can be restored."""


@functools.cache
def _one_writer_per_array_on_cpu() -> None:
    """On CPU, Orbax's replica-parallel saving (each replica of a replicated array writes 1/R of it) is
    pure cost: the "devices" share one host memory, and each distinct slice is a small XLA compile on the
    first save (~100 of them, ~4 s, for the tests' 8 host devices). Accelerators keep Orbax's default."""
    if jax.default_backend() != "cpu":
        return
    absl_log = logging.getLogger("absl")  # Orbax warns of any override; this one is deliberate

    def not_the_override(record):
        return "overriding" not in record.getMessage()

    absl_log.addFilter(not_the_override)
    try:
        ocp.type_handlers.register_type_handler(jax.Array, ocp.type_handlers.ArrayHandler(use_replica_parallel=False),
                                                override=True)
    finally:
        absl_log.removeFilter(not_the_override)


class Checkpointer:
    def __init__(self, workdir: str, max_to_keep: int = 3, async_save: bool = True):
        _one_writer_per_array_on_cpu()
        self.directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, enable_async_checkpointing=async_save,
                                               create=True)
        self.manager = ocp.CheckpointManager(self.directory, options=options,
                                             item_handlers=ocp.StandardCheckpointHandler())

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, state: Any, force: bool = False) -> bool:
        log.info("step %d: checkpoint save starts", step)
        return self.manager.save(step, args=ocp.args.StandardSave(state), force=force)

    def restore(self, abstract_state: Any, step: int | None = None) -> Any:
        """``abstract_state``: ShapeDtypeStructs with the target shardings. None restores the saved tree
        (nested dicts) onto this process's first device, whatever mesh or process count saved it (e.g.
        a pod's workdir as ``init_from`` on one host)."""
        step = self.latest_step() if step is None else step
        if abstract_state is None:
            device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
            abstract_state = jax.tree_util.tree_map(
                lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device), self.manager.item_metadata(step))
        return self.manager.restore(step, args=ocp.args.StandardRestore(abstract_state))

    def restore_newest_readable(self, abstract_state: Any) -> Any:
        """The newest checkpoint that restores. One that cannot be read (a truncated or deleted file) is
        named in a warning and moved to ``<workdir>/unreadable_checkpoints/<step>`` (kept for inspection,
        out of the way of new saves), and the previous one is tried. Raises CheckpointError when none
        restores: the run never starts afresh over checkpoints it could not read."""
        steps = sorted(self.manager.all_steps(), reverse=True)
        failures = []
        for step in steps:
            try:
                state = self.restore(abstract_state, step)
            except Exception as e:  # noqa: BLE001  (Orbax/TensorStore raise many types for damaged files)
                reason = describe_error(e)
                failures.append((step, reason))
                log.warning("checkpoint %s/%d cannot be read (%s); trying the previous one", self.directory, step,
                            reason)
                continue
            for bad, _ in failures:
                log.warning("unreadable checkpoint %d moved to %s", bad, self.set_aside(bad))
            return state
        if steps:
            listing = "; ".join(f"step {step} ({reason})" for step, reason in failures)
            raise CheckpointError(f"no checkpoint in {self.directory} can be read: {listing}. "
                                  "Restore the files, or move the directory away to start from scratch")
        return None

    def set_aside(self, step: int) -> str:
        """Moves an unreadable step out of the checkpoint directory; returns where it went."""
        target = os.path.join(os.path.dirname(self.directory), "unreadable_checkpoints", str(step))
        suffix = 1
        while os.path.exists(target):  # the same step set aside before
            target = os.path.join(os.path.dirname(target), f"{step}.{suffix}")
            suffix += 1
        if jax.process_index() == 0:  # one mover on a shared filesystem
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.move(os.path.join(self.directory, str(step)), target)
        self.manager.reload()
        return target

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()


class BestCheckpoint:
    """Params of the best evaluation so far by one metric (higher is better): ``best/<step>`` and
    ``best.json`` ({step, metric, value, results}). best.json is written only after its params are
    complete, and older steps are removed only after it, so a crash leaves a consistent pair."""

    def __init__(self, workdir: str, metric: str):
        self.metric = metric
        self.directory = os.path.abspath(os.path.join(workdir, "best"))
        self.record_path = os.path.join(workdir, "best.json")
        self.record = None
        if os.path.exists(self.record_path):
            with open(self.record_path, encoding="utf-8") as f:
                self.record = json.load(f)

    def update(self, step: int, params: Any, results: dict) -> bool:
        if self.metric not in results:
            raise KeyError(f"selection metric {self.metric!r} is not among the eval results {sorted(results)}")
        value = float(results[self.metric])
        if self.record is not None and not value > self.record["value"]:
            return False
        path = os.path.join(self.directory, str(step))
        if os.path.exists(path):  # left by a run that crashed before writing best.json
            shutil.rmtree(path)
        with ocp.StandardCheckpointer() as checkpointer:
            checkpointer.save(path, params)
            checkpointer.wait_until_finished()
        record = {"step": step, "metric": self.metric, "value": value, "results": results}
        if jax.process_index() == 0:
            write_json(self.record_path, record)
            for name in os.listdir(self.directory):
                if name != str(step):
                    shutil.rmtree(os.path.join(self.directory, name), ignore_errors=True)
        self.record = record
        log.info("best %s=%.4f at step %d", self.metric, value, step)
        return True

    def restore(self, abstract_params: Any) -> Any:
        with ocp.StandardCheckpointer() as checkpointer:
            return checkpointer.restore(os.path.join(self.directory, str(self.record["step"])), abstract_params)


class PreemptionFlag:
    """SIGTERM (TPU VM / Slurm preemption): the loop finishes its step, saves and exits 0.

    One process: a Python handler sets a flag. Several processes must all save at the same step (the save
    is collective), and SIGTERM may reach one host first or the hosts at different steps: JAX's preemption
    service (started by jax.distributed.initialize; it owns SIGTERM there) agrees on the step, so no Python
    handler is installed and ``stop_at`` asks the service at every step."""

    def __init__(self):
        self.requested = False
        self._multi = jax.process_count() > 1
        self._previous = None if self._multi else signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum, frame):
        self.requested = True

    def stop_at(self, step: int) -> bool:
        """True when the run must save and stop after ``step`` (the same answer on every process)."""
        if self._multi:
            from jax.experimental import multihost_utils

            self.requested = self.requested or multihost_utils.reached_preemption_sync_point(step)
        return self.requested

    def restore_handler(self) -> None:
        """Gives SIGTERM back to the handler the run found, unless a SIGTERM stopped the run: then the process
        has been told to terminate and is on its way out with its checkpoint written, and SIGTERM stays
        ignored. Schedulers, ``timeout`` and kill loops repeat the signal until the process is gone; a repeat
        after this point must not turn the clean stop into a death by signal (exit -15). A Python handler
        would not do: the interpreter resets those to the default action as it finalizes (SIG_IGN it keeps)."""
        if not self._multi:
            signal.signal(signal.SIGTERM, signal.SIG_IGN if self.requested else self._previous)

"""Orbax checkpoints of the whole TrainState (params, optimizer state, step = data position, RNG).

Saves are asynchronous and keep the newest ``max_to_keep``; Orbax writes each step to a temporary
directory and renames it when complete, so a crash mid-save never leaves a step that restore would pick.
Restore targets carry the current shardings: a checkpoint restores onto any mesh.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import orbax.checkpoint as ocp


class Checkpointer:
    def __init__(self, workdir: str, max_to_keep: int = 3, async_save: bool = True):
        self.directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, enable_async_checkpointing=async_save,
                                               create=True)
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, state: Any, force: bool = False) -> bool:
        return self.manager.save(step, args=ocp.args.StandardSave(state), force=force)

    def restore(self, abstract_state: Any, step: int | None = None) -> Any:
        """``abstract_state``: ShapeDtypeStructs with the target shardings."""
        step = self.latest_step() if step is None else step
        return self.manager.restore(step, args=ocp.args.StandardRestore(abstract_state))

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()


class PreemptionFlag:
    """Set by SIGTERM (TPU VM / Slurm preemption); the loop finishes its step, saves and exits 0."""

    def __init__(self):
        self.requested = False
        self._previous = signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum, frame):
        self.requested = True

    def restore_handler(self) -> None:
        signal.signal(signal.SIGTERM, self._previous)

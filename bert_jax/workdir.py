"""Workdir safety: one run per workdir at a time, and a resumed run must have the config it started with.

The lock is ``fcntl.flock`` on the workdir directory: the OS drops it when the process exits in any way
(SIGKILL included), so a crashed run never leaves a stale lock behind. Remote workdirs (gs://...) are
not locked (no flock there); process 0 takes the lock for a multi-host run.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from typing import Any

log = logging.getLogger(__name__)

# Keys a resumed run may change: how often it logs, evaluates and saves, and how it is laid out on the
# devices (checkpoints restore onto any mesh). Everything else changes what is trained.
RESUMABLE_CHANGES = ("log_every", "eval_every", "ckpt_every", "keep_checkpoints", "async_checkpointing",
                     "eval_batches", "eval_batch_size", "num_devices", "mesh", "dcn_mesh", "sharding",
                     "allow_config_change")

# Keys added since workdirs were first written whose default is not "off" but the old behaviour itself: a
# workdir without the key was made with this value.
ADDED_KEY_DEFAULTS = {"data.sentence_task": "nsp", "data.vocab_type": "wordpiece", "data.max_ngram": 1}


class WorkdirError(RuntimeError):
    """The workdir is in use, or holds a run with another config."""


class WorkdirLock:
    """Holds ``flock`` on the workdir directory itself (no lock file: a workdir whose run failed on bad
    input stays empty)."""

    def __init__(self, workdir: str):
        self.workdir = workdir
        self._fd = None

    def __enter__(self) -> "WorkdirLock":
        if "://" in self.workdir:
            log.info("%s is remote: not locked", self.workdir)
            return self
        fd = os.open(self.workdir, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise WorkdirError(f"workdir {self.workdir} is in use by another run; wait for it to finish or give "
                               "another --workdir") from None
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    out = {}
    for key, value in tree.items():
        out.update(_flatten(value, f"{prefix}{key}."))
    return {k.rstrip("."): v for k, v in out.items()}


def config_changes(stored: dict, current: dict) -> dict[str, tuple[Any, Any]]:
    """Dotted keys whose value differs (missing on one side = None), except RESUMABLE_CHANGES and keys a
    newer bert_jax added since the workdir was made whose value is off ('', False, 0, None) or the old
    behaviour (ADDED_KEY_DEFAULTS): a new key's default keeps the old behaviour, so a workdir resumes across
    the upgrade."""
    old, new = _flatten(stored), _flatten(current)
    changes = {}
    for key in sorted(set(old) | set(new)):
        if key.split(".")[0] in RESUMABLE_CHANGES:
            continue
        if key not in old and (not new[key] or ADDED_KEY_DEFAULTS.get(key, object()) == new[key]):
            continue
        if old.get(key) != new.get(key):
            changes[key] = (old.get(key), new.get(key))
    return changes


def check_stored_config(path: str, current: dict, allow_change: bool) -> bool:
    """Compares the run's config with the workdir's ``config.json``. Returns True when the stored file
    should be (re)written: absent, or changed with ``allow_change``. Raises WorkdirError otherwise."""
    if not os.path.exists(path):
        return True
    with open(path, encoding="utf-8") as f:
        stored = json.load(f)
    changes = config_changes(stored, current)
    if not changes:
        return False
    listing = "; ".join(f"{k}: {a!r} → {b!r}" for k, a, b in ((k, *v) for k, v in list(changes.items())[:10]))
    more = f" (and {len(changes) - 10} more)" if len(changes) > 10 else ""
    if not allow_change:
        raise WorkdirError(f"{path} holds another config than this run's: {listing}{more}. Use a new --workdir, "
                           "or --config.allow_config_change=True to continue this workdir with the new config")
    log.warning("config changed from %s (allowed): %s%s", path, listing, more)
    return True

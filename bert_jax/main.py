"""Entry point: python -m bert_jax.main --config=configs/pretrain_tiny.py[:args] --workdir=DIR [--config.k=v]."""

from __future__ import annotations

import logging
import os
import sys
import traceback

from absl import app, flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file (ml_collections), with ':args'.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Run directory: checkpoints, logs, results.")
_COMPILATION_CACHE = flags.DEFINE_string(
    "compilation_cache", None,
    "Directory of XLA's persistent compilation cache (default $JAX_COMPILATION_CACHE_DIR, else "
    "$XDG_CACHE_HOME/bert_jax/xla or ~/.cache/bert_jax/xla); an empty value turns it off.")

_KEEP_FREED_HOST_MEMORY = flags.DEFINE_enum(
    "keep_freed_host_memory", os.environ.get("BERT_JAX_KEEP_FREED_HOST_MEMORY", "auto"), ["auto", "yes", "no"],
    "Let glibc keep the memory a step frees for the next step (bert_jax/host_memory.py): MiniLM steps on CPU "
    "4-12% faster, compiles ~15% slower, peak heap kept. auto: on when the run is CPU-only. Default from "
    "$BERT_JAX_KEEP_FREED_HOST_MEMORY, else auto.")


def use_compilation_cache(directory: str | None) -> None:
    """Keeps compiled steps across runs: a rerun, a resume, or the next fine-tuning run at the same shapes
    loads its executables instead of compiling them (on the 2-core CPU a MiniLM train step compiles in
    seconds per batch width). Entries are keyed by jax version, program and devices, so a stale one is never
    used; an unreadable one is a warning and a compile (jax's rule)."""
    import jax

    if directory is None:
        if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
            return  # jax has read it
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        directory = os.path.join(base, "bert_jax", "xla")
    jax.config.update("jax_compilation_cache_dir", directory or None)


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def check_failed(error: BaseException) -> bool:
    """Whether ``error`` is one of our checks rejecting the config, the data or the workdir: raised by an
    explicit ``raise`` in a bert_jax module (the messages say what, where and what was expected). A failure
    raised inside a library, an assertion, or any error of ours that no check raised keeps its traceback."""
    if not isinstance(error, Exception) or isinstance(error, AssertionError) or error.__traceback__ is None:
        return False
    innermost = traceback.extract_tb(error.__traceback__)[-1]
    return innermost.filename.startswith(_PACKAGE_DIR) and (innermost.line or "").startswith("raise ")


def one_line(error: BaseException) -> str:
    message = error.args[0] if isinstance(error, KeyError) and error.args else error  # KeyError's str quotes it
    return f"error: {message}"


def main(argv) -> None:
    """A mistake in the config, the data or the workdir prints its one-line message and exits 1."""
    try:
        _main(argv)
    except Exception as e:  # noqa: BLE001  (check_failed decides; everything else is raised again)
        if not check_failed(e):
            raise
        print(one_line(e), file=sys.stderr)
        sys.exit(1)


def _main(argv) -> None:
    del argv
    from bert_jax import host_memory

    host_memory.keep_freed_memory_on_cpu(_KEEP_FREED_HOST_MEMORY.value)  # before JAX starts its backend
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stdout, force=True)
    for noisy in ("absl", "jax._src", "orbax", "tensorflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from bert_jax import distributed, train

    use_compilation_cache(_COMPILATION_CACHE.value)
    distributed.initialize_from_flags_or_env()
    train.run(_CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
    flags.mark_flags_as_required(["config", "workdir"])
    app.run(main)

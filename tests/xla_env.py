"""XLA_FLAGS of the test processes and of the CLI runs the tests start.

The test processes have 8 host devices (conftest.py), for the tests of meshes and sharding. The end-to-end CLI
runs the tests start have one (``cli_env``), as a CPU user's run has: on 8 host devices each data-parallel run
kept 8 copies of the params and optimizer state and computed the optimizer update 8 times on the 2 cores
(tests/test_finetune.py's RTE run from MiniLM: 75.6 → 56.0 s alone). What several devices do to a run is
tested where it is the point: test_train.py's meshes and restores onto another mesh, test_sharding.py,
test_multiprocess.py (2 processes × 4 devices, fine-tuning included).

LLVM runs at -O1 for the tests' CPU programs: the suite is mostly compiles of tiny runs, and -O1 compiles them
35-40% faster (a MiniLM train step 11.1 → 7.9 s, its initialisation 6.5 → 4.4 s on the 2-core CI machine) for
steps 0-15% slower. Both levels compute the same thing (no fast-math either way); benchmarks, experiments and
users run XLA's default (-O2).
"""

import os

TEST_COMPILE_FLAGS = "--xla_backend_optimization_level=1"


def xla_flags(devices: int) -> str:
    """XLA_FLAGS for ``devices`` host devices with the tests' compile level."""
    return f"--xla_force_host_platform_device_count={devices} {TEST_COMPILE_FLAGS}"


def cli_env(devices: int = 1) -> dict:
    """The environment of a CLI run a test starts: the test process's, with ``devices`` host devices."""
    return dict(os.environ, XLA_FLAGS=xla_flags(devices))

"""XLA_FLAGS of the test processes and of the CLI runs the tests start.

LLVM runs at -O1 for the tests' CPU programs: the suite is mostly compiles of tiny runs, and -O1 compiles them
35-40% faster (a MiniLM train step 11.1 → 7.9 s, its initialisation 6.5 → 4.4 s on the 2-core CI machine) for
steps 0-15% slower. Both levels compute the same thing (no fast-math either way); benchmarks, experiments and
users run XLA's default (-O2).
"""

TEST_COMPILE_FLAGS = "--xla_backend_optimization_level=1"


def xla_flags(devices: int) -> str:
    """XLA_FLAGS for ``devices`` host devices with the tests' compile level."""
    return f"--xla_force_host_platform_device_count={devices} {TEST_COMPILE_FLAGS}"

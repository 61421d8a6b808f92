"""Keep the host memory a CPU train step frees inside the process, so the next step reuses it (glibc only).

Why: XLA:CPU allocates a step's temporaries (~700 MB for a MiniLM step at batch 32 × 64) and frees them when
the step ends. glibc hands large blocks back to the kernel (blocks over its mmap threshold are unmapped, and
the threads' arenas give back their heaps: one arena alone, or no mmap alone, left the faults as they were),
so every step gets them back as fresh pages that the kernel faults in and zeroes:
~180,000 page faults per MiniLM step; a loop of MiniLM steps ran ~12% faster without them on the 2-core
CPU (`bench finetune`, with its mixed widths and the peer in the process: 4%). With one arena, no
mmap'd blocks and no trimming, a freed block stays in the heap and the next step reuses it (0 faults).

Costs, why it is only on for CPU runs: compiles take 5-35% longer (LLVM's compile threads share the one
arena; a MiniLM train step ~7 → ~8 s), and the process keeps its peak heap until it exits.
"""

from __future__ import annotations

import ctypes
import glob
import os

# mallopt parameters (glibc malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8


def keep_freed_memory() -> bool:
    """Tells glibc to keep freed memory: one arena, no mmap'd blocks, never trim (mallopt).

    Call it before JAX starts its backend: threads that have allocated already keep their own arenas.
    Returns False (and changes nothing) where the C library is not glibc.
    """
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 (an AttributeError says: not glibc)
    except (OSError, AttributeError):
        return False
    # A trim threshold of -1 is SIZE_MAX for glibc: the heap's free top is never returned to the kernel.
    settings = ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, -1))
    return all(libc.mallopt(parameter, value) == 1 for parameter, value in settings)


def cpu_only_host() -> bool:
    """Whether this run will be on CPU, decided before JAX starts a backend: JAX_PLATFORMS says 'cpu', or
    the machine has no GPU or TPU device node (/dev/nvidia*, /dev/kfd, /dev/accel*, /dev/vfio/*)."""
    platforms = os.environ.get("JAX_PLATFORMS", "")
    if platforms:
        return platforms.split(",")[0].strip() == "cpu"
    accelerators = ("/dev/nvidia[0-9]*", "/dev/kfd", "/dev/accel*", "/dev/vfio/[0-9]*")
    return not any(glob.glob(pattern) for pattern in accelerators)


def keep_freed_memory_on_cpu(setting: str) -> bool:
    """``setting``: 'auto' (keep on CPU-only hosts), 'yes' or 'no'. Returns whether it was applied."""
    if setting not in ("auto", "yes", "no"):
        raise ValueError(f"--keep_freed_host_memory={setting!r}; expected 'auto', 'yes' or 'no'")
    if setting == "no" or (setting == "auto" and not cpu_only_host()):
        return False
    return keep_freed_memory()

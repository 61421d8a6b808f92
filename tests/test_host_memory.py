"""bert_jax.host_memory: with glibc told to keep freed memory, a block freed and allocated again is reused
instead of coming back from the kernel as fresh pages (counted as minor page faults by getrusage)."""

import platform
import subprocess
import sys

import pytest

from bert_jax import host_memory

# Allocates, touches and frees a 64 MiB buffer (over glibc's largest mmap threshold, 32 MiB) five times and
# prints the minor page faults of the last four rounds. A fresh 64 MiB block is 16,384 pages of 4 KiB.
_ROUNDS = """
import ctypes, resource, sys
from bert_jax import host_memory
if sys.argv[1] == "keep":
    assert host_memory.keep_freed_memory()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
size = 64 << 20
faults = []
for _ in range(5):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = libc.malloc(size)
    ctypes.memset(block, 1, size)
    libc.free(ctypes.c_void_p(block))
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(sum(faults[1:]))
"""

PAGES = (64 << 20) // 4096


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", _ROUNDS, mode], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_a_freed_block_is_reused_instead_of_faulted_in_again():
    assert _faults("default") >= 4 * PAGES * 0.9  # glibc unmaps the block: every round faults it in again
    assert _faults("keep") < PAGES * 0.05  # kept: the rounds after the first reuse its pages


def test_auto_keeps_memory_only_for_cpu_runs(monkeypatch):
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    assert host_memory.cpu_only_host()
    monkeypatch.setenv("JAX_PLATFORMS", "cuda,cpu")
    assert not host_memory.cpu_only_host()
    assert not host_memory.keep_freed_memory_on_cpu("auto")  # nothing applied for a GPU run
    assert not host_memory.keep_freed_memory_on_cpu("no")
    with pytest.raises(ValueError, match=r"expected 'auto', 'yes' or 'no'"):
        host_memory.keep_freed_memory_on_cpu("maybe")

"""Keep freed host memory in a CPU training process instead of handing it back to the OS.

A CPU training step allocates and frees the same few hundred megabytes of tensors every step.
glibc returns large freed blocks to the kernel (blocks over its mmap threshold are unmapped,
the heap top is trimmed), so the next step takes a page fault for every 4 KiB it touches
again. On a bare machine that costs a few percent; in a virtual machine that reports freed
pages to its host (Firecracker, cloud VMs with free-page reporting) a fault costs microseconds:
a 32² StyleGAN3-T step took ~35 000 of them, and this policy made it 2–4 % faster there
(docs/BENCHMARKS.md). Raising the thresholds keeps the
memory in the process: its resident size stays at the step's peak, which a training process
reaches anyway.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

# mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# glibc's largest allowed mmap threshold on 64-bit systems: blocks up to this size come from
# the heap. Larger blocks (rare at training batch sizes on the CPU) are still mapped per use.
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 2 ** 31 - 1  # the largest C int: the heap top is (almost) never trimmed

_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Apply the policy once per process (glibc only; elsewhere, or with
    GANSCOPE_KEEP_FREED_MEMORY=0, nothing changes). Returns whether it is in force."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if os.environ.get("GANSCOPE_KEEP_FREED_MEMORY", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    ok = mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
    _applied = ok
    return ok

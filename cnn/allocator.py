"""Keep freed memory in the process, so numpy's temporaries do not fault in page by page on every pass.

A pass allocates and frees the same few hundred-kilobyte arrays again and again (im2col columns, a layer's output, a
gradient). glibc's malloc serves arrays above its mmap threshold (128 KiB at start) with fresh mappings and gives
freed memory at the top of the heap back to the system once more than the trim threshold is free. Either way the
next pass touches new pages, and each page costs a fault: about 3 µs on the 2-core VM this project is measured on.
Counted there with getrusage, as tests/cnn/test_allocator.py does: a batch-1 float64 LeNet-5 pass took 10 faults
(about 30 µs of 0.32 ms), a batch-64 float32 training step about 730 (5–10 % of its time); with the thresholds
raised, none.

Raising the thresholds keeps the process's memory at its peak instead of shrinking it between passes: the trade the
server and the trainer want. A library should not make it for its users, so nothing calls this on import; the server
(`app.main`), the training and evaluation commands and the benchmarks call it at start.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

# mallopt parameters, from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's ceiling for it on 64-bit systems; larger arrays are still mapped
TRIM_THRESHOLD = 256 * 1024 * 1024  # free memory kept at the top of the heap before any goes back to the system


@functools.cache
def keep_freed_memory() -> bool:
    """Raise glibc malloc's mmap and trim thresholds for this process. True if applied, False where the C library
    is not glibc (macOS, musl), which is left as it is. Safe to call more than once."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc: no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success. Setting either threshold also turns off glibc's own adjustment of them.
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))

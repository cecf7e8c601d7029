"""cnn.allocator: with glibc, repeated passes stop faulting in fresh pages; elsewhere it says it did nothing."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

# Counts the page faults of 100 batch-1 passes after a warm-up, in a fresh process so that nothing this test run
# allocated before changes the heap, with or without keep_freed_memory.
_PROBE = """
import resource, sys
import numpy as np
from cnn import build_model, lenet5, softmax_cross_entropy
from cnn.allocator import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else None
model = build_model(lenet5("float64"), np.random.default_rng(0))
x = np.random.default_rng(1).random((1, 1, 28, 28))
def one_pass():
    _, d = softmax_cross_entropy(model.forward(x), [3])
    model.backward(d)
for _ in range(100):  # the heap grows to its peak, Python's own caches fill
    one_pass()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(100):
    one_pass()
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True).stdout
    applied, faults = out.split()
    return applied, int(faults)


def test_keep_freed_memory_applies_exactly_where_the_c_library_is_glibc() -> None:
    applied, _ = _faults("keep")
    assert applied == str(platform.libc_ver()[0] == "glibc")


def test_with_freed_memory_kept_passes_no_longer_fault_in_pages() -> None:
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's; elsewhere keep_freed_memory changes nothing (tested above)")
    _, faults = _faults("keep")
    # Without it this machine counts 12–16 faults per pass; with it, a few in all, from Python's own arenas.
    assert faults <= 20, f"{faults} page faults in 100 passes"

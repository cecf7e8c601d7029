"""Fabricated IDX files and damaged gzip streams for test_idx.py, test_data.py and test_mnist_download.py."""

import struct

import numpy as np


def idx(array: np.ndarray, magic: int | None = None) -> bytes:
    """IDX bytes of a uint8 array; `magic` overrides the header's first four bytes."""
    magic = 0x0800 | array.ndim if magic is None else magic
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()


def damaged(gz: bytes) -> bytes:
    """The same .gz with 16 bytes in the middle of its deflate stream inverted."""
    out = bytearray(gz)
    for i in range(len(out) // 2, len(out) // 2 + 16):
        out[i] ^= 0xFF
    return bytes(out)

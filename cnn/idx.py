"""Read IDX files (LeCun's format for MNIST), gzipped or not, into numpy arrays.

IDX format: a big-endian header `00 00 <type> <ndim>`, then `ndim` big-endian uint32 sizes, then the data,
row-major. MNIST uses type 0x08 (unsigned byte): magic 2051 = 0x00000803 for images, 2049 = 0x00000801 for
labels. Which files those are, and how to fetch and verify them, is cnn/data.py's business.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path
from typing import Final

import numpy as np

from cnn.errors import DataError

_GZIP_MAGIC: Final = b"\x1f\x8b"
_IDX_TYPES: Final = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "int16",
    0x0C: "int32",
    0x0D: "float32",
    0x0E: "float64",
}


def read_idx(path: str | Path, magic: int | None = None) -> np.ndarray:
    """Read an IDX file, gzipped or not, into a uint8 array of the header's shape.

    Gzip is recognised by its magic bytes 1f 8b, not by the file name. `magic`, if given, is the header's
    expected magic number (2051 for MNIST images, 2049 for labels). Every problem raises DataError naming the
    file.
    """
    path = Path(path)
    return _parse_idx(_decode(_read_raw(path), str(path)), str(path), magic)


def _read_raw(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _decode(raw: bytes, source: str) -> bytes:
    """The file's content, decompressed if it is gzip."""
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    # A damaged stream surfaces as BadGzipFile (an OSError), zlib.error, or EOFError when it stops short.
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{source}: corrupt gzip stream ({exc}); the file is damaged, fetch it anew") from exc


def _describe_magic(magic: int) -> str:
    type_code, ndim = (magic >> 8) & 0xFF, magic & 0xFF
    return f"{magic} (type 0x{type_code:02X} {_IDX_TYPES.get(type_code, 'unknown')}, {ndim} dimensions)"


def _parse_idx(data: bytes, source: str, magic: int | None) -> np.ndarray:
    if len(data) < 4:
        raise DataError(
            f"{source}: {len(data)} bytes is too short for an IDX file, whose header alone is at least "
            "8 bytes (the file is empty or cut short)"
        )
    found = int.from_bytes(data[:4], "big")
    zero0, zero1, type_code, ndim = data[:4]
    if zero0 or zero1:
        raise DataError(
            f"{source}: not an IDX file: it starts with bytes {data[:4].hex(' ')} (magic {found}); "
            "an IDX file starts 00 00 <type> <dims>, e.g. 2051 for MNIST images, 2049 for labels"
        )
    if magic is not None and found != magic:
        raise DataError(
            f"{source}: magic number {_describe_magic(found)}, expected {_describe_magic(magic)}; "
            "is this the right file?"
        )
    if type_code != 0x08:
        raise DataError(
            f"{source}: IDX type code 0x{type_code:02X} ({_IDX_TYPES.get(type_code, 'unknown')}) "
            "is not supported, expected 0x08 (unsigned byte)"
        )
    if ndim == 0:
        raise DataError(f"{source}: the IDX header declares 0 dimensions, expected at least 1")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(
            f"{source}: truncated header: {ndim} dimensions need a {header}-byte header, "
            f"found {len(data)} bytes"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = header + math.prod(shape)
    what = f"the header says {'x'.join(map(str, shape))} data bytes, so the file should be {expected:,} bytes"
    if len(data) < expected:
        missing = expected - len(data)
        raise DataError(f"{source}: truncated: {what}, found {len(data):,} ({missing:,} missing)")
    if len(data) > expected:
        raise DataError(f"{source}: {len(data) - expected:,} trailing bytes: {what}, found {len(data):,}")
    # Copy so the caller gets a writable array that does not pin the file's bytes.
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()

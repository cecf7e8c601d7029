"""Arrays on the wire, never as nested JSON lists. app.schemas puts these forms in the API's types (WireArray).

JSON (REST):  {"shape": [6, 28, 28], "dtype": "float32", "data": "<base64 of the little-endian bytes>"}
Outer product: {"shape": [120, 400], "dtype": "float32", "outer": [u, v], "scale": s}  meaning s·u vᵀ, where u and v
               are arrays as above. A dense layer's ∂E/∂W for one example is exactly δ·xᵀ (seed 002), so it travels
               as its two factors: 520 numbers instead of 48,000.
Binary (WebSocket): one frame = 4-byte little-endian length of a JSON header, the header, then the raw bytes of every
               array; in the header each array is {"shape", "dtype", "offset", "nbytes"} into those bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

WIRE_FLOAT = np.dtype("<f4")  # float32 on the wire: 7 significant digits on screen; exact float64 in the .npz export
WIRE_DTYPES: dict[str, np.dtype[Any]] = {"float32": np.dtype("<f4"), "uint8": np.dtype("|u1"), "int32": np.dtype("<i4")}
_NAMES = {dt.str: name for name, dt in WIRE_DTYPES.items()}
MAX_RANK = 4


@dataclass(frozen=True)
class Outer:
    """scale · u vᵀ, kept factored until it is encoded."""

    u: np.ndarray
    v: np.ndarray
    scale: float = 1.0

    @property
    def shape(self) -> tuple[int, int]:
        return (self.u.size, self.v.size)

    def dense(self) -> np.ndarray:
        return self.scale * np.outer(self.u, self.v)


def wire_form(a: np.ndarray) -> np.ndarray:
    """The array as it travels: C order, little-endian, float32 or the smallest of uint8 / int32 that holds it.

    (np.asarray with order="C" keeps 0-d arrays 0-d; np.ascontiguousarray would make them 1-d.)
    """
    kind = a.dtype.kind
    if kind == "f":
        if a.dtype == WIRE_FLOAT and a.flags.c_contiguous:
            return a  # already in wire form: most arrays, the second time they pass here
        return np.asarray(a, dtype=WIRE_FLOAT, order="C")
    if kind in "iub":
        hi = int(a.max()) if a.size else 0
        lo = int(a.min()) if a.size else 0
        if lo >= 0 and hi < 256:
            return np.asarray(a, dtype=WIRE_DTYPES["uint8"], order="C")
        if lo >= -(2**31) and hi < 2**31:
            return np.asarray(a, dtype=WIRE_DTYPES["int32"], order="C")
        raise ValueError(f"integers from {lo} to {hi} do not fit int32, the widest integer type on the wire")
    raise TypeError(f"cannot send arrays of {a.dtype}")


def owned(a: np.ndarray) -> np.ndarray:
    """The array's wire form in memory of its own: a copy only where the wire form would still be `a`'s memory."""
    w = wire_form(a)
    return w.copy() if np.may_share_memory(w, a) else w


def _header(w: np.ndarray) -> dict[str, Any]:
    return {"shape": list(w.shape), "dtype": _NAMES[w.dtype.str]}


def to_json(a: np.ndarray) -> dict[str, Any]:
    """An array's JSON form: {"shape", "dtype", "data": base64}."""
    w = wire_form(a)
    return {**_header(w), "data": base64.b64encode(w.data).decode("ascii")}


def outer_to_json(o: Outer, leaf: Any = to_json) -> dict[str, Any]:
    return {"shape": list(o.shape), "dtype": "float32", "outer": [leaf(o.u), leaf(o.v)], "scale": o.scale}


def from_json(value: Any, max_size: int = 1 << 20) -> np.ndarray:
    """{"shape", "dtype", "data": base64} -> a read-only array, each part checked, with a message saying what is off."""
    if not isinstance(value, dict) or not {"shape", "dtype", "data"} <= value.keys():
        raise ValueError('an array is {"shape": [...], "dtype": "float32" | "uint8" | "int32", "data": "<base64>"}')
    shape, dtype, data = value["shape"], value["dtype"], value["data"]
    if (not isinstance(shape, list) or len(shape) > MAX_RANK
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)):
        raise ValueError(f"shape must be a list of at most {MAX_RANK} whole numbers ≥ 0, got {shape!r}")
    if not isinstance(dtype, str) or dtype not in WIRE_DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(WIRE_DTYPES)}, got {dtype!r}")
    size = math.prod(shape)
    if size > max_size:
        raise ValueError(f"an array of shape {shape} has {size:,} values; at most {max_size:,} are accepted")
    if not isinstance(data, str):
        raise ValueError("data must be a base64 string")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("data is not valid base64") from None
    expected = size * WIRE_DTYPES[dtype].itemsize
    if len(raw) != expected:
        raise ValueError(f"data holds {len(raw):,} bytes; shape {shape} of {dtype} needs {expected:,}")
    return np.frombuffer(raw, dtype=WIRE_DTYPES[dtype]).reshape(shape)


class Frame:
    """A binary WebSocket frame being built: `place` moves an array's bytes into the payload and returns its entry
    for the header; `to_bytes` joins header and payload."""

    def __init__(self) -> None:
        self.chunks: list[Any] = []  # bytes, and uint8 views of the arrays (buffers join without a copy)
        self.offset = 0

    def place(self, a: np.ndarray) -> dict[str, Any]:
        w = wire_form(a)
        pad = (-self.offset) % 4  # keep float32 arrays 4-byte aligned for a zero-copy Float32Array in the browser
        if pad:
            self.chunks.append(b"\0" * pad)
            self.offset += pad
        entry = {**_header(w), "offset": self.offset, "nbytes": w.nbytes}
        self.chunks.append(w.reshape(-1).view(np.uint8))  # the bytes themselves, not a copy
        self.offset += w.nbytes
        return entry

    def to_bytes(self, header: dict[str, Any]) -> bytes:
        text = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
        # Spaces (JSON whitespace) after the header make the payload start on a 4-byte boundary of the frame, so the
        # browser can view float32 arrays in the received buffer without copying them.
        text += b" " * ((-(4 + len(text))) % 4)
        return b"".join([struct.pack("<I", len(text)), text, *self.chunks])

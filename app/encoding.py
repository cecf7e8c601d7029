"""Arrays on the wire, never as nested JSON lists.

JSON (REST):  {"shape": [6, 28, 28], "dtype": "float32", "data": "<base64 of the little-endian bytes>"}
Outer product: {"shape": [120, 400], "dtype": "float32", "outer": [u, v], "scale": s}  meaning s·u vᵀ, where u and v
               are arrays as above. A dense layer's ∂E/∂W for one example is exactly δ·xᵀ (seed 002), so it travels
               as its two factors: 520 numbers instead of 48,000.
Binary (WebSocket): one frame = 4-byte little-endian length of a JSON header, the header, then the raw bytes of every
               array; in the header each array is {"shape", "dtype", "offset", "nbytes"} into those bytes.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

WIRE_FLOAT = np.dtype("<f4")  # float32 on the wire: 7 significant digits on screen; exact float64 in the .npz export


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


def _wire(a: np.ndarray) -> np.ndarray:
    """The array as it travels: C order, little-endian, float32 or the smallest of uint8 / int32 that holds it.

    (np.asarray with order="C" keeps 0-d arrays 0-d; np.ascontiguousarray would make them 1-d.)
    """
    if np.issubdtype(a.dtype, np.floating):
        return np.asarray(a, dtype=WIRE_FLOAT, order="C")
    if np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_:
        hi = int(a.max()) if a.size else 0
        lo = int(a.min()) if a.size else 0
        if lo >= 0 and hi < 256:
            return np.asarray(a, dtype=np.dtype("<u1"), order="C")
        if lo >= -(2**31) and hi < 2**31:
            return np.asarray(a, dtype=np.dtype("<i4"), order="C")
        raise ValueError(f"integers from {lo} to {hi} do not fit int32, the widest integer type on the wire")
    raise TypeError(f"cannot send arrays of {a.dtype}")


def dtype_name(a: np.ndarray) -> str:
    return {"<f4": "float32", "|u1": "uint8", "<i4": "int32"}[a.dtype.str]


def _encode(value: Any, leaf: Callable[[np.ndarray], Any]) -> Any:
    """Walk dicts and lists, putting every numpy array through `leaf` (an Outer's two factors too)."""
    if isinstance(value, np.ndarray):
        return leaf(value)
    if isinstance(value, Outer):
        return {"shape": list(value.shape), "dtype": "float32", "outer": [leaf(value.u), leaf(value.v)],
                "scale": value.scale}
    if isinstance(value, dict):
        return {k: _encode(v, leaf) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v, leaf) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _decode(
    value: Any, is_array: Callable[[dict[str, Any]], bool], leaf: Callable[[dict[str, Any]], np.ndarray]
) -> Any:
    """The inverse walk: every dict that `is_array` recognises becomes `leaf(dict)`; outer products are multiplied."""
    if isinstance(value, dict):
        if "outer" in value:
            u, v = (_decode(f, is_array, leaf) for f in value["outer"])
            return (value["scale"] * np.outer(u, v)).astype(np.float32)
        if is_array(value):
            return leaf(value)
        return {k: _decode(v, is_array, leaf) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, is_array, leaf) for v in value]
    return value


def _from_bytes(raw: bytes | memoryview, entry: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(raw, dtype=np.dtype(entry["dtype"]).newbyteorder("<")).reshape(entry["shape"])


def encode_json(value: Any) -> Any:
    """Replace every numpy array (and Outer) inside dicts and lists by its base64 wire form."""

    def leaf(a: np.ndarray) -> dict[str, Any]:
        w = _wire(a)
        return {"shape": list(w.shape), "dtype": dtype_name(w), "data": base64.b64encode(w.tobytes()).decode("ascii")}

    return _encode(value, leaf)


def decode_json(value: Any) -> Any:
    """The inverse of encode_json (float32 precision): for tests and Python clients."""
    return _decode(value, lambda d: {"data", "shape", "dtype"} <= d.keys(),
                   lambda d: _from_bytes(base64.b64decode(d["data"]), d))


def encode_frame(message: dict[str, Any]) -> bytes:
    """A binary WebSocket frame: arrays move into the payload, the header keeps their place."""
    chunks: list[bytes] = []
    offset = 0

    def place(a: np.ndarray) -> dict[str, Any]:
        nonlocal offset
        w = _wire(a)
        raw = w.tobytes()
        pad = (-offset) % 4  # keep float32 arrays 4-byte aligned for a zero-copy Float32Array in the browser
        chunks.append(b"\0" * pad)
        offset += pad
        entry = {"shape": list(w.shape), "dtype": dtype_name(w), "offset": offset, "nbytes": len(raw)}
        chunks.append(raw)
        offset += len(raw)
        return entry

    header = json.dumps(_encode(message, place), separators=(",", ":")).encode()
    # Spaces (JSON whitespace) after the header make the payload start on a 4-byte boundary of the frame, so the
    # browser can view float32 arrays in the received buffer without copying them.
    header += b" " * ((-(4 + len(header))) % 4)
    return struct.pack("<I", len(header)) + header + b"".join(chunks)


def decode_frame(frame: bytes) -> dict[str, Any]:
    """The inverse of encode_frame, for tests and Python clients."""
    (length,) = struct.unpack_from("<I", frame)
    header = json.loads(frame[4 : 4 + length])
    payload = memoryview(frame)[4 + length :]
    result: dict[str, Any] = _decode(
        header,
        lambda d: {"offset", "nbytes", "shape", "dtype"} <= d.keys(),
        lambda d: _from_bytes(payload[d["offset"] : d["offset"] + d["nbytes"]], d),
    )
    return result

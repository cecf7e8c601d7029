"""Decoding what the server sends, for the tests: the inverse of app.encoding (float32 precision). Outer products
are multiplied out, so a test compares plain arrays."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Callable
from typing import Any

import numpy as np

from app.encoding import WIRE_DTYPES


def _decode(
    value: Any, is_array: Callable[[dict[str, Any]], bool], leaf: Callable[[dict[str, Any]], np.ndarray]
) -> Any:
    """Every dict that `is_array` recognises becomes `leaf(dict)`; outer products are multiplied."""
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
    return np.frombuffer(raw, dtype=WIRE_DTYPES[entry["dtype"]]).reshape(entry["shape"])


def decode_json(value: Any) -> Any:
    """A JSON answer with base64 arrays -> the same with numpy arrays."""
    return _decode(value, lambda d: {"data", "shape", "dtype"} <= d.keys(),
                   lambda d: _from_bytes(base64.b64decode(d["data"]), d))


def decode_frame(frame: bytes) -> dict[str, Any]:
    """A binary WebSocket frame -> its message with numpy arrays."""
    (length,) = struct.unpack_from("<I", frame)
    header = json.loads(frame[4 : 4 + length])
    payload = memoryview(frame)[4 + length :]
    result: dict[str, Any] = _decode(
        header,
        lambda d: {"offset", "nbytes", "shape", "dtype"} <= d.keys(),
        lambda d: _from_bytes(payload[d["offset"] : d["offset"] + d["nbytes"]], d),
    )
    return result


def encode_input(image: np.ndarray) -> dict[str, Any]:
    """An input as the page sends it: {"shape", "dtype": "float32", "data": base64}."""
    a = np.asarray(image, dtype="<f4")
    return {"shape": list(a.shape), "dtype": "float32", "data": base64.b64encode(a.tobytes()).decode("ascii")}

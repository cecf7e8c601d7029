"""Arrays on the wire (app.encoding, through the API's array types in app.schemas): JSON with base64 and binary
WebSocket frames both give back what was sent.

The wire carries float32 (any float dtype arrives as float32), uint8 for small non-negative integers and bools,
int32 for other integers, all little-endian, whatever the byte order of the array sent.
"""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel
from pydantic_core import PydanticSerializationError

from app.encoding import Frame, Outer, from_json, wire_form
from app.schemas import BackwardLayer, WireMatrix
from tests.app.wire import decode_frame, decode_json

RNG = np.random.default_rng(0)


class One(BaseModel):
    """Any array field of the API serialises like this one."""

    a: WireMatrix


def encode_json(a: np.ndarray | Outer) -> dict[str, Any]:
    return One(a=a).model_dump(mode="json")["a"]  # type: ignore[no-any-return]


def encode_frame(message: dict[str, Any]) -> bytes:
    """A frame whose header holds `message`: its arrays placed in the payload, its other values as they are."""
    frame = Frame()
    header = {k: One(a=v).model_dump(mode="json", context={"frame": frame})["a"] if isinstance(v, np.ndarray | Outer)
              else v for k, v in message.items()}
    return frame.to_bytes(header)

# (array sent, dtype that arrives)
CASES: list[tuple[np.ndarray, str]] = [
    (RNG.standard_normal((6, 28, 28)).astype(np.float32), "float32"),
    (RNG.standard_normal((3, 5)), "float32"),  # float64 travels as float32
    (RNG.standard_normal(7).astype(np.float16), "float32"),
    (RNG.integers(0, 256, (4, 4)).astype(np.uint8), "uint8"),
    (np.array([[0, 13], [27, 255]], dtype=np.int64), "uint8"),  # small non-negative ints: one byte each
    (np.array([-3, 0, 70000], dtype=np.int32), "int32"),
    (np.array([2**31 - 1, -(2**31)], dtype=np.int64), "int32"),
    (np.array([True, False, True]), "uint8"),
    (np.zeros((0, 3)), "float32"),
    (np.zeros(0, dtype=np.int64), "uint8"),
    (RNG.standard_normal((4, 6))[:, ::2], "float32"),  # not contiguous
    (RNG.standard_normal((4, 6)).T, "float32"),  # Fortran order
]


def _ids(case: tuple[np.ndarray, str]) -> str:
    a, _ = case
    return f"{a.dtype}{list(a.shape)}"


def _check(sent: np.ndarray, got: np.ndarray, dtype: str) -> None:
    assert isinstance(got, np.ndarray)
    assert got.dtype == np.dtype(dtype)
    assert got.shape == sent.shape
    if dtype == "float32":
        np.testing.assert_array_equal(got, sent.astype(np.float32))  # exactly the float32 rounding, nothing worse
    else:
        np.testing.assert_array_equal(got, sent.astype(np.int64))


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_json_round_trip(case: tuple[np.ndarray, str]) -> None:
    sent, dtype = case
    wire = encode_json(sent)
    assert set(wire) == {"shape", "dtype", "data"} and wire["dtype"] == dtype and wire["shape"] == list(sent.shape)
    json.dumps(wire)  # plain JSON: no numpy type left
    _check(sent, decode_json(wire), dtype)


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_frame_round_trip(case: tuple[np.ndarray, str]) -> None:
    sent, dtype = case
    got = decode_frame(encode_frame({"a": sent}))["a"]
    _check(sent, got, dtype)


# A 0-d array keeps its shape (np.ascontiguousarray would make it 1-d).
@pytest.mark.parametrize("scalar", [np.array(3.5), np.array(7, dtype=np.int64), np.array(True)], ids=str)
def test_a_0d_array_keeps_its_shape(scalar: np.ndarray) -> None:
    wire = encode_json(scalar)
    assert wire["shape"] == []
    assert decode_json(wire).shape == ()
    assert decode_frame(encode_frame({"x": scalar}))["x"].shape == ()
    assert decode_json(wire).item() == scalar.item()


# Integers beyond int32 are refused, never silently changed.
@pytest.mark.parametrize("values", [[2**40, 1], [2**31, 0], [-(2**31) - 1, 0]], ids=str)
def test_integers_beyond_int32_are_never_silently_changed(values: list[int]) -> None:
    sent = np.array(values, dtype=np.int64)
    try:
        got = decode_json(encode_json(sent))
    except (TypeError, ValueError):
        return  # refusing is fine; changing the numbers is not
    np.testing.assert_array_equal(got.astype(np.int64), sent)


def test_float_special_values_survive() -> None:
    sent = np.array([np.inf, -np.inf, np.nan, -0.0, 1e-45, 3.4e38])
    got = decode_json(encode_json(sent))
    np.testing.assert_array_equal(got, sent.astype(np.float32))
    assert np.signbit(got[3])


@pytest.mark.parametrize("dtype", [">f8", ">f4", ">i4", ">i8", ">u2"])
def test_bytes_are_little_endian_whatever_the_input_byte_order(dtype: str) -> None:
    native = np.array([[1, 2, 300], [4, 5, 6]]).astype(dtype.replace(">", "<"))
    big = native.astype(dtype)
    wire = encode_json(big)
    assert wire == encode_json(native)  # same bytes either way
    got = decode_json(wire)
    np.testing.assert_array_equal(got, native)
    raw = base64.b64decode(wire["data"])
    width = np.dtype(wire["dtype"]).itemsize
    first = int.from_bytes(raw[:width], "little")
    if wire["dtype"] == "float32":
        assert struct.unpack("<f", raw[:4])[0] == 1.0
    else:
        assert first == 1
    frame_got = decode_frame(encode_frame({"a": big}))["a"]
    np.testing.assert_array_equal(frame_got, native)


def test_a_big_endian_float64_decodes_to_the_same_values() -> None:
    values = np.array([0.1, -2.5, 1e10, 3.0])
    got = decode_json(encode_json(values.astype(">f8")))
    np.testing.assert_array_equal(got, values.astype(np.float32))


def test_an_outer_product_travels_as_its_factors_and_decodes_to_scale_u_vt() -> None:
    u, v = RNG.standard_normal(120), RNG.standard_normal(400)
    product = Outer(u, v, -0.01)
    wire = encode_json(product)
    assert wire["shape"] == [120, 400] and wire["scale"] == -0.01
    assert len(json.dumps(wire)) < 4 * (120 + 400) * 2  # 520 numbers, not 48 000
    expected = -0.01 * np.outer(u.astype(np.float32), v.astype(np.float32))
    got = decode_json(wire)
    assert got.shape == (120, 400) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(decode_frame(encode_frame({"g": product}))["g"], expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(product.dense(), -0.01 * np.outer(u, v), rtol=1e-15)


def test_a_layer_model_keeps_its_structure_and_plain_values_in_json_and_in_a_frame() -> None:
    layer = BackwardLayer(index=3, name="conv2", kind="Conv2D", delta_of="net", delta=np.ones((2, 2)),
                          grads={"W": np.eye(3), "b": np.zeros(3)}, routing=np.arange(3, dtype=np.int64))
    frame = Frame()
    header = layer.model_dump(mode="json", context={"frame": frame})
    for decoded in (decode_json(json.loads(layer.model_dump_json())), decode_frame(frame.to_bytes(header))):
        assert decoded["phase"] == "backward" and decoded["index"] == 3 and decoded["delta_of"] == "net"
        assert decoded["grad_input"] is None
        np.testing.assert_array_equal(decoded["delta"], np.ones((2, 2)))
        np.testing.assert_array_equal(decoded["grads"]["W"], np.eye(3))
        np.testing.assert_array_equal(decoded["grads"]["b"], np.zeros(3))
        assert decoded["routing"].dtype == np.uint8
        np.testing.assert_array_equal(decoded["routing"], np.arange(3))


@pytest.mark.parametrize(("values", "dtype"), [([255], "uint8"), ([0, 255], "uint8"), ([256], "int32"),
                                               ([-1], "int32"), ([-1, 255], "int32")], ids=str)
def test_integers_take_the_smallest_wire_type_that_holds_them(values: list[int], dtype: str) -> None:
    sent = np.array(values, dtype=np.int64)
    wire = encode_json(sent)
    assert wire["dtype"] == dtype
    np.testing.assert_array_equal(decode_json(wire), sent)
    np.testing.assert_array_equal(decode_frame(encode_frame({"a": sent}))["a"], sent)


@pytest.mark.parametrize(("sent", "words"), [
    ({"shape": [2], "dtype": "float32"}, "an array is"),
    ({"shape": [2, -1], "dtype": "float32", "data": ""}, "whole numbers"),
    ({"shape": [2], "dtype": "float64", "data": ""}, "dtype must be one of float32, uint8, int32"),
    ({"shape": [3], "dtype": "float32", "data": "AAAAAAAAAAA="}, "holds 8 bytes; shape [3] of float32 needs 12"),
    ({"shape": [1], "dtype": "uint8", "data": "not base64!"}, "not valid base64"),
    ({"shape": [2048, 2048], "dtype": "uint8", "data": ""}, "4,194,304 values"),
], ids=["no data", "negative axis", "float64", "short data", "bad base64", "too many values"])
def test_an_array_a_client_sends_is_checked_and_refused_in_plain_words(sent: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError) as info:
        from_json(sent)
    assert words in str(info.value)


def test_an_array_a_client_sends_arrives_as_sent() -> None:
    a = RNG.standard_normal((28, 28)).astype(np.float32)
    np.testing.assert_array_equal(from_json(encode_json(a)), a)


def test_arrays_that_cannot_be_sent_are_refused_by_name() -> None:
    for bad in (np.array([1 + 2j]), np.array(["a"]), np.array([object()])):
        with pytest.raises(TypeError, match="cannot send arrays of"):
            wire_form(bad)
        with pytest.raises(PydanticSerializationError, match="cannot send arrays of"):
            encode_json(bad)


def _frame_entries(frame: bytes) -> tuple[int, list[dict[str, Any]]]:
    (length,) = struct.unpack_from("<I", frame)
    header = json.loads(frame[4 : 4 + length])
    found: list[dict[str, Any]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if {"offset", "nbytes", "dtype"} <= value.keys():
                found.append(value)
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(header)
    return 4 + length, found


ODD_MESSAGE = {
    "type": "layer",
    "a": np.arange(3, dtype=np.uint8),  # 3 bytes: the next array would start misaligned without padding
    "b": RNG.standard_normal((2, 3)).astype(np.float32),
    "c": np.array([True]),
    "d": RNG.standard_normal(5),
    "e": Outer(RNG.standard_normal(3), RNG.standard_normal(2)),
}


def test_float32_arrays_in_a_frame_are_4_byte_aligned_in_the_payload() -> None:
    frame = encode_frame(ODD_MESSAGE)
    start, entries = _frame_entries(frame)
    floats = [e for e in entries if e["dtype"] == "float32"]
    assert len(floats) == 4  # b, d, and both factors of e
    for e in floats:
        assert e["offset"] % 4 == 0
        assert e["nbytes"] == 4 * int(np.prod(e["shape"]))
    assert len(frame) >= start + max(e["offset"] + e["nbytes"] for e in entries)
    decoded = decode_frame(frame)
    np.testing.assert_array_equal(decoded["b"], ODD_MESSAGE["b"])
    np.testing.assert_array_equal(decoded["d"], ODD_MESSAGE["d"].astype(np.float32))


# Float32 arrays are 4-byte aligned in the frame itself, so the browser can view them without a copy.
@pytest.mark.parametrize("extra", ["", "x", "xy", "xyz"])
def test_float32_arrays_are_4_byte_aligned_in_the_frame_itself(extra: str) -> None:
    frame = encode_frame({**ODD_MESSAGE, "name": extra})  # header lengths of every residue mod 4
    start, entries = _frame_entries(frame)
    for e in entries:
        if e["dtype"] == "float32":
            assert (start + e["offset"]) % 4 == 0, f"payload starts at byte {start} of the frame"


def test_a_frame_without_arrays_is_just_its_header() -> None:
    frame = Frame().to_bytes({"type": "done", "loss": 0.5})
    (length,) = struct.unpack_from("<I", frame)
    assert len(frame) == 4 + length
    assert decode_frame(frame) == {"type": "done", "loss": 0.5}

"""Shared by the REST API tests (test_api*.py): the model's layer table, uploads, and an error-response check."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
from fastapi.testclient import TestClient
from PIL import Image

from tests.app.wire import decode_json

MakeClient = Callable[..., TestClient]
Samples = tuple[np.ndarray, np.ndarray]

NAMES = ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "flatten1", "dense1", "relu3", "dense2", "relu4",
         "dense3"]
KINDS = ["Conv2D", "ReLU", "MaxPool2D", "Conv2D", "ReLU", "MaxPool2D", "Flatten", "Dense", "ReLU", "Dense", "ReLU",
         "Dense"]
SHAPES = [[6, 28, 28], [6, 28, 28], [6, 14, 14], [16, 10, 10], [16, 10, 10], [16, 5, 5], [400], [120], [120], [84],
          [84], [10]]
PARAM_NAMES = ["conv1.W", "conv1.b", "conv2.W", "conv2.b", "dense1.W", "dense1.b", "dense2.W", "dense2.b", "dense3.W",
               "dense3.b"]
PREPROCESS_STEPS = ["grayscale", "inverted", "cropped", "scaled", "centered"]
F32 = {"rtol": 1e-6, "atol": 1e-7}  # float32 on the wire: 7 significant digits


# Helpers


def png_file(data: bytes, name: str = "digit.png", mime: str = "image/png") -> dict[str, tuple[str, bytes, str]]:
    return {"file": (name, data, mime)}


def post_png(client: TestClient, data: bytes, **kwargs: Any) -> httpx.Response:
    return client.post("/api/forward", files=png_file(data), **kwargs)


def image_bytes(pixels: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, fmt)
    return buf.getvalue()


def blank_png(value: int = 255, side: int = 112) -> bytes:
    return image_bytes(np.full((side, side), value, dtype=np.uint8))


def noise_png(side: int) -> bytes:
    """Random pixels: PNG cannot compress them, so the file is about side² bytes."""
    return image_bytes(np.random.default_rng(side).integers(0, 256, (side, side), dtype=np.uint8))


def assert_error(r: httpx.Response, status: int, code: str, *words: str) -> dict[str, Any]:
    """The status, the JSON shape {"detail", "code"}, the code, and the words of the message (case-insensitive)."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = r.json()
    assert set(body) == {"detail", "code"}, body
    assert body["code"] == code, body
    detail = body["detail"].lower()
    for word in words:
        assert word.lower() in detail, f"{word!r} not in {body['detail']!r}"
    assert "traceback" not in detail
    return body


def layers_by_name(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {layer["name"]: layer for layer in payload["layers"]}


def outputs(forward: dict[str, Any]) -> dict[str, np.ndarray]:
    """The decoded output of every layer of a forward response, by name."""
    return {layer["name"]: decode_json(layer["output"]) for layer in forward["layers"]}


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()

"""Fixtures for the server tests: an app on the pretrained model, a client, digits as image files, and the sessions
and sockets the REST API and WS /ws tests start from."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from starlette.testclient import WebSocketTestSession

from app.config import load_settings
from app.main import create_app
from cnn.pretrained import load_samples
from tests.app.api_helpers import post_png


@pytest.fixture(scope="session")
def samples() -> tuple[np.ndarray, np.ndarray]:
    """Ten MNIST test digits shipped with the package, one per class: (10, 28, 28) uint8 and their labels."""
    return load_samples()


@pytest.fixture
def make_client() -> Iterator[Callable[..., TestClient]]:
    """A factory: make_client(max_sessions=2, ...) -> a started TestClient on an app with those settings."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        client = TestClient(create_app(load_settings(**overrides)))
        client.__enter__()  # runs the lifespan: loads the model
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


def png_bytes(image: np.ndarray, scale: int = 4, invert: bool = False, mode: str = "L") -> bytes:
    """A (28, 28) uint8 digit as a PNG, upscaled like a canvas drawing; invert=True for black ink on white."""
    pixels = 255 - image if invert else image
    img = Image.fromarray(pixels).resize((28 * scale, 28 * scale), Image.Resampling.NEAREST).convert(mode)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


@pytest.fixture
def digit_png(samples: tuple[np.ndarray, np.ndarray]) -> Callable[..., bytes]:
    """digit_png(7) -> PNG bytes of the sample 7 (white on black); digit_png(7, invert=True) black on white."""
    images, _ = samples

    def make(digit: int = 7, **kwargs: Any) -> bytes:
        return png_bytes(images[digit], **kwargs)

    return make


# ---------------------------------------------------------------------------- the REST API and WS /ws tests


@pytest.fixture
def seven(digit_png: Callable[..., bytes]) -> bytes:
    return digit_png(7)


@pytest.fixture
def forwarded(client: TestClient, seven: bytes) -> dict[str, Any]:
    """The client's session after a forward of the sample 7: the forward response."""
    r = post_png(client, seven)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def backwarded(client: TestClient, forwarded: dict[str, Any]) -> dict[str, Any]:
    """... and after a backward towards the wrong label 3 (a large, informative gradient): the backward response."""
    r = client.post("/api/backward", json={"target": 3})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def ws(client: TestClient) -> Iterator[WebSocketTestSession]:
    with client.websocket_connect("/ws") as socket:
        yield socket


@pytest.fixture
def model_layers(client: TestClient) -> list[dict[str, Any]]:
    layers: list[dict[str, Any]] = client.get("/api/model").json()["layers"]
    return layers

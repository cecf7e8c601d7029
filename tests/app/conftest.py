"""Fixtures for the server tests: an app on the pretrained model, a client, and digits as image files."""

from __future__ import annotations

import base64
import dataclasses
import io
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.config import Settings
from app.main import create_app
from cnn.pretrained import load_samples


@pytest.fixture(scope="session")
def samples() -> tuple[np.ndarray, np.ndarray]:
    """Ten MNIST test digits shipped with the package, one per class: (10, 28, 28) uint8 and their labels."""
    return load_samples()


@pytest.fixture
def make_client() -> Iterator[Callable[..., TestClient]]:
    """A factory: make_client(max_sessions=2, ...) -> a started TestClient on an app with those settings."""
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        client = TestClient(create_app(dataclasses.replace(Settings(), **overrides)))
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

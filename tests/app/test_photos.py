"""Photographed digits (app.services.photo): MNIST test digits made to look like phone photos of a digit on paper
(lighting gradients, noise, blur, off centre, JPEG) are read as well as the network reads MNIST, where the plain
pipeline, which takes one background level for the whole picture, loses most of them; scans and drawings are read as
before; and what looks wrong is said."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageFilter

from app.services import images, photo
from cnn import load_model
from cnn.data import load_mnist
from cnn.pretrained import PRETRAINED_PATH
from tests.app.wire import encode_input

COUNT = 20


@pytest.fixture(scope="module")
def digits(mnist_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The first COUNT MNIST test digits the pretrained network reads correctly as they are (28×28 uint8), and their
    labels: what is measured here is the photo, not the network."""
    test_images, test_labels = load_mnist("test", mnist_dir)
    model = load_model(PRETRAINED_PATH)
    logits = model.forward(test_images[:200].reshape(-1, 1, 28, 28) / 255.0)
    right = np.flatnonzero(logits.argmax(axis=1) == test_labels[:200])[:COUNT]
    return test_images[right], test_labels[right]


def _jpeg(rgb: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.clip(rgb * 255, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def photographed(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A phone photo of `digit` written on paper: dark ink on light paper, 400×300, the digit ~150 px and off centre,
    lit by a gradient from a random side (the far side at 45-60 % of the near one), a slight blur, sensor noise, a
    warm tint, JPEG at quality 70."""
    size = int(rng.integers(130, 170))
    ink = np.asarray(Image.fromarray(digit).resize((size, size), Image.Resampling.BILINEAR), dtype=np.float64) / 255
    h, w = 300, 400
    reflectance = np.full((h, w), 0.85)
    top, left = int(rng.integers(10, h - size - 10)), int(rng.integers(10, w - size - 10))
    reflectance[top : top + size, left : left + size] -= 0.7 * ink
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:h, 0:w]
    ramp = (np.cos(angle) * xs / w + np.sin(angle) * ys / h)
    ramp = (ramp - ramp.min()) / (ramp.max() - ramp.min())
    light = 1.0 - rng.uniform(0.4, 0.55) * ramp
    gray = reflectance * light
    blurred = Image.fromarray((gray * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(1.2))
    gray = np.asarray(blurred, dtype=np.float64) / 255 + rng.normal(0, 0.03, gray.shape)
    rgb = np.dstack([gray * 1.0, gray * 0.96, gray * 0.88])
    return _jpeg(rgb, quality=70)


def scanned(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A flatbed scan of `digit` on paper: even light, faint noise, JPEG at quality 85."""
    ink = np.asarray(Image.fromarray(digit).resize((140, 140), Image.Resampling.BILINEAR), dtype=np.float64) / 255
    gray = np.full((200, 200), 0.93)
    gray[30:170, 30:170] -= 0.8 * ink
    gray = gray + rng.normal(0, 0.008, gray.shape)
    return _jpeg(np.dstack([gray] * 3), quality=85)


def read(data: list[bytes]) -> tuple[np.ndarray, list[images.Preprocessed]]:
    pre = [images.image_to_input(d) for d in data]
    logits = load_model(PRETRAINED_PATH).forward(np.stack([p.input for p in pre])[:, None])
    return logits.argmax(axis=1), pre


def test_photographed_digits_are_read_and_the_plain_pipeline_would_lose_them(
        digits: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    photos = [photographed(d, rng) for d in digits[0]]
    predicted, pre = read(photos)
    assert all(p.photographed for p in pre)
    assert (predicted == digits[1]).sum() >= 18, (predicted, digits[1])
    monkeypatch.setattr(photo, "looks_photographed", lambda gray: False)  # the plain pipeline, as before
    plain, _ = read(photos)
    assert (plain == digits[1]).sum() <= 10, "the photos should be hard for the plain pipeline"


def test_scans_take_the_plain_pipeline_and_are_read_as_before(digits: tuple[np.ndarray, np.ndarray]) -> None:
    rng = np.random.default_rng(1)
    predicted, pre = read([scanned(d, rng) for d in digits[0]])
    assert not any(p.photographed for p in pre)
    assert (predicted == digits[1]).sum() >= 19


@pytest.mark.parametrize("name", ["mnist_7", "grey_paper", "touching_border", "faint_ink", "light_on_dark"])
def test_a_drawing_is_never_taken_for_a_photo(name: str) -> None:
    from tests.js.fixtures import drawings

    rgba = drawings()[name]
    gray = rgba[..., 0].astype(np.float64) / 255
    assert not photo.looks_photographed(gray)


def test_a_lighting_gradient_alone_leaves_no_ink() -> None:
    ys, xs = np.mgrid[0:200, 0:300]
    paper = 0.9 * (0.5 + 0.5 * xs / 300) + np.random.default_rng(2).normal(0, 0.02, (200, 300))
    ink = photo.photo_ink(np.clip(paper, 0, 1), inverted=True)
    assert (ink > 0.1).mean() < 0.01  # the plain pipeline would take the dark side of the page for ink


def test_otsu_splits_two_levels_between_them() -> None:
    values = np.concatenate([np.full(900, 0.1), np.full(100, 0.8)]) + np.random.default_rng(3).normal(0, 0.02, 1000)
    assert 0.2 < photo.otsu_threshold(np.clip(values, 0, 1)) < 0.7


def test_components_label_each_8_connected_group() -> None:
    mask = np.zeros((6, 8), bool)
    mask[1, 1] = mask[2, 2] = True  # diagonal neighbours: one component
    mask[4, 5:8] = True
    labels = photo.components(mask)
    assert labels[1, 1] == labels[2, 2] != 0
    assert len(np.unique(labels[mask])) == 2 and (labels[~mask] == 0).all()


def test_what_looks_wrong_is_said() -> None:
    touching = np.zeros((100, 100))
    touching[:60, 40:50] = 1.0
    assert "touches the edge" in images.preprocess(touching).warnings[0]
    tiny = np.zeros((400, 400))
    tiny[200:203, 200:203] = 1.0
    assert any("Very little ink" in w for w in images.preprocess(tiny).warnings)
    busy = np.zeros((100, 100))
    busy[5:95, 5:95] = 1.0
    assert any("Much of the picture reads as ink" in w for w in images.preprocess(busy).warnings)
    fine = np.zeros((100, 100))
    fine[20:80, 45:55] = 1.0
    assert images.preprocess(fine).warnings == []


def test_the_forward_answer_says_what_looks_wrong(client: TestClient) -> None:
    """An upload whose ink runs off the picture: the answer carries the doubt, in words, beside the input."""
    pixels = np.full((100, 100), 255, np.uint8)
    pixels[:70, 40:52] = 0  # a stroke that starts at the top edge
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    r = client.post("/api/forward", files={"file": ("cut.png", buf.getvalue(), "image/png")})
    assert r.status_code == 200, r.text
    assert any("touches the edge" in w for w in r.json()["input_warnings"])
    sent = client.post("/api/forward", json={"input": encode_input(np.zeros((28, 28)) + 0.5)})
    assert sent.json()["input_warnings"] == []  # the page's own input: nothing to doubt here

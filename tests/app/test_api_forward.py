"""The REST API's forward: every sample digit classified, the numbers checked against the arithmetic they claim
(softmax, ReLU, max-pool), every way a forward is refused, and the input's preprocessing steps.

Every error is JSON {"detail", "code"} with a 4xx status; the tests check the status, the code and the words a person
reads, and that the session still works afterwards. Helpers are in api_helpers.py; the fixtures seven, forwarded and
backwarded in conftest.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.app.api_helpers import (
    KINDS,
    NAMES,
    PREPROCESS_STEPS,
    SHAPES,
    MakeClient,
    Samples,
    assert_error,
    blank_png,
    image_bytes,
    noise_png,
    outputs,
    post_png,
    softmax,
)
from tests.app.conftest import data_url, png_bytes
from tests.app.wire import decode_json

# Forward


@pytest.mark.parametrize("invert", [False, True], ids=["white-on-black", "black-on-white"])
@pytest.mark.parametrize("transport", ["multipart", "json"])
def test_forward_classifies_every_sample_digit(client: TestClient, samples: Samples, transport: str,
                                               invert: bool) -> None:
    images, labels = samples
    for image, label in zip(images, labels, strict=True):
        png = png_bytes(image, invert=invert)
        if transport == "multipart":
            r = post_png(client, png)
        else:
            r = client.post("/api/forward", json={"image": data_url(png)})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["prediction"] == int(label)
        assert body["probabilities"][int(label)] > 0.9


def test_forward_response_shape(forwarded: dict[str, Any]) -> None:
    assert isinstance(forwarded["prediction"], int) and forwarded["prediction"] == 7
    probs = forwarded["probabilities"]
    assert len(probs) == 10 and all(0 <= p <= 1 for p in probs)
    assert sum(probs) == pytest.approx(1.0, abs=1e-12)
    assert int(np.argmax(probs)) == forwarded["prediction"]
    x = decode_json(forwarded["input"])
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() == pytest.approx(1.0)  # preprocessing stretches the ink to full intensity
    assert len(forwarded["layers"]) == 12
    for i, layer in enumerate(forwarded["layers"]):
        assert (layer["index"], layer["name"], layer["kind"], layer["output_shape"]) == (i, NAMES[i], KINDS[i],
                                                                                        SHAPES[i])
        assert layer["phase"] == "forward"
        assert list(decode_json(layer["output"]).shape) == layer["output_shape"]


def test_forward_probabilities_are_the_softmax_of_the_last_output(forwarded: dict[str, Any]) -> None:
    logits = outputs(forwarded)["dense3"].astype(np.float64)
    np.testing.assert_allclose(softmax(logits), forwarded["probabilities"], rtol=1e-5, atol=1e-7)


def test_forward_relu_outputs_are_max_of_the_layer_before_and_zero(forwarded: dict[str, Any]) -> None:
    out = outputs(forwarded)
    for relu, before in (("relu1", "conv1"), ("relu2", "conv2"), ("relu3", "dense1"), ("relu4", "dense2")):
        np.testing.assert_array_equal(out[relu], np.maximum(out[before], 0))
        assert (out[before] < 0).any() and (out[before] > 0).any()  # a real test: both signs occur
    np.testing.assert_array_equal(out["flatten1"], out["pool2"].reshape(-1))


def test_forward_pool_outputs_are_window_maxima(forwarded: dict[str, Any]) -> None:
    out = outputs(forwarded)
    for pool, before in (("pool1", "relu1"), ("pool2", "relu2")):
        x = out[before]
        C, H, W = x.shape
        expected = x.reshape(C, H // 2, 2, W // 2, 2).max(axis=(2, 4))
        np.testing.assert_array_equal(out[pool], expected)


def test_the_same_image_by_multipart_and_by_data_url_gives_the_same_result(client: TestClient, seven: bytes) -> None:
    a = post_png(client, seven).json()
    b = client.post("/api/forward", json={"image": data_url(seven)}).json()
    assert a["probabilities"] == b["probabilities"]


def test_a_json_content_type_with_charset_is_accepted(client: TestClient, seven: bytes) -> None:
    r = client.post("/api/forward", content=json.dumps({"image": data_url(seven)}),
                    headers={"content-type": "application/json; charset=utf-8"})
    assert r.status_code == 200 and r.json()["prediction"] == 7


# Forward: errors. Each case is (request, status, code, words of the detail); after it the same session still works.

ErrorCase = tuple[Callable[[TestClient], httpx.Response], int, str, tuple[str, ...]]

TEXT_BYTES = b"this is not an image, just some text"


def _tiff() -> bytes:
    return image_bytes(np.full((40, 40), 128, dtype=np.uint8), "TIFF")


FORWARD_ERRORS: dict[str, ErrorCase] = {
    "no body": (lambda c: c.post("/api/forward"), 415, "unsupported_media_type",
                ("content type", "missing", "multipart/form-data", "'file'", '{"image"')),
    "text/plain": (lambda c: c.post("/api/forward", content=b"7", headers={"content-type": "text/plain"}), 415,
                   "unsupported_media_type", ("'text/plain'", "not accepted")),
    "image/png body": (lambda c: c.post("/api/forward", content=png_bytes(np.eye(28, dtype=np.uint8) * 255),
                                        headers={"content-type": "image/png"}), 415, "unsupported_media_type",
                       ("'image/png'",)),
    "multipart without file": (lambda c: c.post("/api/forward", files={"image": ("d.png", b"x", "image/png")}), 400,
                               "missing_file", ("no file", "'file'")),
    "multipart file as text": (lambda c: c.post("/api/forward", files={"file": (None, "not a file")}), 400,
                               "missing_file", ("'file'",)),
    "multipart without boundary": (lambda c: c.post("/api/forward", content=b"--x\r\n",
                                                    headers={"content-type": "multipart/form-data"}), 400,
                                   "http_error", ("boundary",)),
    "multipart two files": (lambda c: c.post("/api/forward", files=[("file", ("a.png", b"a", "image/png")),
                                                                    ("file", ("b.png", b"b", "image/png"))]),
                            400, "http_error", ("too many files",)),
    "json without image": (lambda c: c.post("/api/forward", json={}), 422, "invalid_request",
                           ("json", '"image"', "data:image/png;base64")),
    "json image not a string": (lambda c: c.post("/api/forward", json={"image": 7}), 422, "invalid_request",
                                ('"image"',)),
    "json a list": (lambda c: c.post("/api/forward", json=[1, 2]), 422, "invalid_request", ('"image"',)),
    "broken json": (lambda c: c.post("/api/forward", content=b'{"image": ',
                                     headers={"content-type": "application/json"}), 422, "invalid_request",
                    ('"image"',)),
    "not a data url": (lambda c: c.post("/api/forward", json={"image": "hello"}), 400, "bad_data_url",
                       ("data url", "data:image/png;base64", "'hello'")),
    "data url of text": (lambda c: c.post("/api/forward", json={"image": "data:text/plain;base64,aGVsbG8="}), 400,
                         "bad_data_url", ("'text/plain'", "not an image")),
    "data url bad base64": (lambda c: c.post("/api/forward", json={"image": "data:image/png;base64,@@@@"}), 400,
                            "bad_data_url", ("base64",)),
    "data url without comma": (lambda c: c.post("/api/forward", json={"image": "data:image/png;base64"}), 400,
                               "bad_data_url", ("data url",)),
    "upload of text": (lambda c: post_png(c, TEXT_BYTES), 422, "not_an_image", ("not an image", "png")),
    "data url of text bytes": (lambda c: c.post("/api/forward", json={"image": data_url(TEXT_BYTES)}), 422,
                               "not_an_image", ("not an image",)),
    "empty upload": (lambda c: post_png(c, b""), 422, "not_an_image", ("not an image",)),
    "truncated png": (lambda c: post_png(c, png_bytes(np.eye(28, dtype=np.uint8) * 255)[:200]), 422, "not_an_image",
                      ("could not be decoded", "truncated")),
    "tiff": (lambda c: post_png(c, _tiff()), 415, "unsupported_format", ("tiff", "not accepted")),
    "blank white canvas": (lambda c: post_png(c, blank_png(255)), 422, "empty_image", ("blank", "draw a digit")),
    "blank black canvas": (lambda c: post_png(c, blank_png(0)), 422, "empty_image", ("blank",)),
    "blank canvas by data url": (lambda c: c.post("/api/forward", json={"image": data_url(blank_png())}), 422,
                                 "empty_image", ("blank",)),
    "GET": (lambda c: c.get("/api/forward"), 405, "method_not_allowed", ("not allowed",)),
}


@pytest.mark.parametrize("case", list(FORWARD_ERRORS.values()), ids=list(FORWARD_ERRORS))
def test_forward_errors_then_the_session_still_works(client: TestClient, forwarded: dict[str, Any], seven: bytes,
                                                     digit_png: Callable[..., bytes], case: ErrorCase) -> None:
    request, status, code, words = case
    assert_error(request(client), status, code, *words)
    # The session kept its last good input: backward still works on the 7...
    r = client.post("/api/backward", json={"target": 7})
    assert r.status_code == 200 and r.json()["prediction"] == 7
    # ... and a new forward works.
    r = post_png(client, digit_png(4))
    assert r.status_code == 200 and r.json()["prediction"] == 4


def test_a_failed_forward_leaves_the_previous_input(client: TestClient, forwarded: dict[str, Any]) -> None:
    before = client.get("/api/input/steps").json()
    assert_error(post_png(client, blank_png()), 422, "empty_image")
    assert client.get("/api/input/steps").json() == before


@pytest.mark.parametrize("side", [120, 300], ids=["just over the limit", "over the limit and the envelope"])
def test_an_upload_over_the_byte_limit_is_refused(make_client: MakeClient, digit_png: Callable[..., bytes],
                                                 side: int) -> None:
    client = make_client(max_upload_bytes=10_000)
    big = noise_png(side)
    assert len(big) > 10_000
    assert_error(post_png(client, big), 413, "too_large", "smaller image")
    r = post_png(client, digit_png(3))  # a small one still goes through
    assert r.status_code == 200 and r.json()["prediction"] == 3


@pytest.mark.parametrize("side", [120, 300], ids=["just over the limit", "over the limit and the envelope"])
def test_a_data_url_over_the_byte_limit_is_refused(make_client: MakeClient, digit_png: Callable[..., bytes],
                                                  side: int) -> None:
    client = make_client(max_upload_bytes=10_000)
    assert_error(client.post("/api/forward", json={"image": data_url(noise_png(side))}), 413, "too_large",
                 "smaller image")
    r = client.post("/api/forward", json={"image": data_url(digit_png(3))})
    assert r.status_code == 200 and r.json()["prediction"] == 3


# The 413 message names the real size of what was sent and the configured limit.
@pytest.mark.parametrize("transport", ["multipart", "json"])
@pytest.mark.parametrize("side", [120, 300], ids=["just over the limit", "over the limit and the envelope"])
def test_the_too_large_message_states_the_real_size_and_limit(make_client: MakeClient, side: int,
                                                             transport: str) -> None:
    client = make_client(max_upload_bytes=10_000)
    big = noise_png(side)
    r = post_png(client, big) if transport == "multipart" else client.post("/api/forward",
                                                                           json={"image": data_url(big)})
    body = assert_error(r, 413, "too_large", "10,000 bytes")
    sizes = [int(s.replace(",", "")) for s in re.findall(r"(\d[\d,]*) bytes", body["detail"])]
    # The image's own size, or the whole request's (the image plus its multipart or base64 envelope).
    assert "at least" in body["detail"] or any(len(big) <= n <= 2 * len(big) + 65536 for n in sizes), body["detail"]


def test_an_image_with_too_many_pixels_is_refused(make_client: MakeClient, samples: Samples) -> None:
    client = make_client(max_image_pixels=10_000)
    images, _ = samples
    big = image_bytes(np.asarray(Image.fromarray(images[5]).resize((200, 200))))
    assert_error(post_png(client, big), 413, "too_many_pixels", "200 × 200", "40,000 pixels", "10,000 pixels",
                 "smaller image")
    r = post_png(client, image_bytes(np.asarray(Image.fromarray(images[5]).resize((100, 100)))))  # exactly 10,000
    assert r.status_code == 200 and r.json()["prediction"] == 5


def test_a_raised_byte_limit_is_honoured(make_client: MakeClient) -> None:
    """A limit raised in the settings is honoured: 300×300 noise (90 kB) passes the byte check at 1 MB."""
    client = make_client(max_upload_bytes=1_000_000)
    r = post_png(client, noise_png(300))
    assert r.status_code in (200, 422)  # noise may or may not read as a digit, but it is not "too large"
    assert r.json().get("code") != "too_large"


# Input steps


def test_input_steps_before_any_forward(client: TestClient) -> None:
    assert_error(client.get("/api/input/steps"), 409, "no_forward_yet", "no input yet", "draw or upload")


def test_input_steps_after_a_forward(client: TestClient, forwarded: dict[str, Any]) -> None:
    r = client.get("/api/input/steps")
    assert r.status_code == 200
    steps = r.json()["steps"]
    assert list(steps) == PREPROCESS_STEPS
    decoded = {name: decode_json(value) for name, value in steps.items()}
    for name, a in decoded.items():
        assert a.ndim == 2 and a.dtype == np.float32, name
        assert 0 <= a.min() and a.max() <= 1, name
    assert decoded["grayscale"].shape == (112, 112)  # the 28×28 sample drawn at scale 4
    assert decoded["centered"].shape == (28, 28)
    assert max(decoded["scaled"].shape) == 20
    np.testing.assert_array_equal(decoded["centered"], decode_json(forwarded["input"]))

"""POST /api/explain: the saliency, Grad-CAM and occlusion maps of the session's input are cnn.explain's on the
session's own weights, for the prediction or a chosen class, each with its sentence; and the refusals."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from cnn import load_model
from cnn.explain import grad_cam, occlusion, saliency
from cnn.pretrained import PRETRAINED_PATH
from tests.app.api_helpers import assert_error
from tests.app.wire import decode_json, encode_input


@pytest.fixture
def digit(samples: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return samples[0][3].astype(np.float32) / 255.0


EXPECTED = {"saliency": saliency, "occlusion": occlusion,
            "grad_cam": lambda model, x, target: grad_cam(model, x, target).map}


@pytest.mark.parametrize("method", ["saliency", "grad_cam", "occlusion"])
def test_each_map_is_the_engines_on_the_sessions_weights(client: TestClient, digit: np.ndarray, method: str) -> None:
    forward = client.post("/api/forward", json={"input": encode_input(digit)}).json()
    r = client.post("/api/explain", json={"method": method})
    assert r.status_code == 200, r.text
    body = decode_json(r.json())
    assert body["target"] == body["prediction"] == forward["prediction"] == 3 and body["label"] == "3"
    model = load_model(PRETRAINED_PATH, dtype="float64")
    expected = EXPECTED[method](model, digit.astype(np.float64)[None], 3)
    assert body["map"].shape == (28, 28)
    np.testing.assert_allclose(body["map"], expected, rtol=1e-5, atol=1e-6)  # float32 on the wire
    assert body["meaning"] and "3" in body["meaning"]
    assert (body["layer"] is not None) == (method == "grad_cam")


def test_a_chosen_class_and_a_stepped_session(client: TestClient, digit: np.ndarray) -> None:
    client.post("/api/forward", json={"input": encode_input(digit)})
    assert client.post("/api/step", json={"lr": 0.5, "target": 8}).status_code == 200
    body = decode_json(client.post("/api/explain", json={"method": "saliency", "target": 8}).json())
    served = saliency(load_model(PRETRAINED_PATH, dtype="float64"), digit.astype(np.float64)[None], 8)
    assert body["target"] == 8 and body["label"] == "8"
    assert not np.allclose(body["map"], served, rtol=1e-3)  # the session's weights, not the served ones


def test_refusals_say_what_to_do(client: TestClient, digit: np.ndarray) -> None:
    assert_error(client.post("/api/explain", json={"method": "saliency"}), 409, "no_forward_yet", "no input yet")
    client.post("/api/forward", json={"input": encode_input(digit)})
    assert_error(client.post("/api/explain", json={"method": "lime"}), 422, "invalid_request", "method")
    assert_error(client.post("/api/explain", json={"method": "saliency", "target": 10}), 422, "invalid_request",
                 "less than or equal to 9")

"""Using what was trained: a spec from the editor trained in the lab, then POST /api/train/{id}/use, and every pass
(forward, backward, step, gradcheck, params, export) runs on that network in the session; reset goes back to the
pretrained LeNet-5. A session holding a trained network keeps it through the store's serialisation."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from app.services.sessions import SessionState
from tests.app.api_helpers import NAMES, post_png
from tests.app.test_train_jobs import LONG, start, wait

EDITOR_SPEC = {"layers": [  # as the editor sends it: no input_shape, no dtype, no names
    {"type": "Conv2D", "out_channels": 3, "kernel_size": 4, "stride": 2, "padding": 1},
    {"type": "Tanh"},
    {"type": "AvgPool2D", "size": 2},
    {"type": "Flatten"},
    {"type": "Dense", "out_features": 16},
    {"type": "ReLU"},
    {"type": "Dense", "out_features": 10},
]}


def test_a_spec_from_the_editor_trained_used_and_run_forward_and_backward(make_client: Callable[..., TestClient],
                                                                         mnist_dir: Path, seven: bytes) -> None:
    client = make_client(data_dir=mnist_dir)
    job_id = start(client, spec=EDITOR_SPEC)
    status = wait(client, job_id, "done", "failed")
    assert status["state"] == "done", status["error"]
    assert post_png(client, seven).status_code == 200  # an input before the switch stays after it

    r = client.post(f"/api/train/{job_id}/use")
    assert r.status_code == 200, r.text
    used = r.json()
    assert used["total_params"] == 3 * 16 + 3 + 147 * 16 + 16 + 16 * 10 + 10
    assert "now runs the trained network" in used["message"]
    model = client.get("/api/model").json()
    assert [layer["kind"] for layer in model["layers"]] == [e["type"] for e in EDITOR_SPEC["layers"]]
    assert model["layers"][0]["output_shape"] == [3, 14, 14] and model["total_params"] == used["total_params"]
    assert model["spec"]["dtype"] == "float64"  # shown in float64, as the served model is

    forward = client.post("/api/forward", files={"file": ("7.png", io.BytesIO(seven), "image/png")}).json()
    assert [layer["name"] for layer in forward["layers"]] == [row["name"] for row in model["layers"]]
    assert forward["layers"][0]["output"]["shape"] == [3, 14, 14]
    backward = client.post("/api/backward", json={"target": 3})
    assert backward.status_code == 200 and len(backward.json()["layers"]) == 7
    step = client.post("/api/step", json={"lr": 0.1})
    assert step.status_code == 200 and step.json()["loss_after"] < step.json()["loss_before"]
    check = client.post("/api/gradcheck", json={"param": "conv1.W", "samples": 4}).json()
    assert check["relative_error"] < 1e-6
    assert client.get("/api/params/conv1").json()["params"]["W"]["shape"] == [3, 1, 4, 4]
    assert client.get("/api/export").status_code == 200

    # The trained weights are the job's model file's, and a second tab of the browser still runs the served one.
    other_tab = client.get("/api/model", headers={"X-Tab-Id": "tab-two"}).json()
    assert [layer["name"] for layer in other_tab["layers"]] == NAMES

    r = client.post("/api/reset")
    assert r.status_code == 200 and r.json()["forward"]["layers"][0]["output"]["shape"] == [6, 28, 28]
    assert [layer["name"] for layer in client.get("/api/model").json()["layers"]] == NAMES


def test_use_needs_a_model_and_the_session_that_trained_it(make_client: Callable[..., TestClient],
                                                           mnist_dir: Path) -> None:
    client = make_client(data_dir=mnist_dir)
    job_id = start(client, **LONG)
    r = client.post(f"/api/train/{job_id}/use")
    assert r.status_code == 409 and r.json()["code"] == "job_conflict"
    assert "has no model yet (it is running)" in r.json()["detail"]
    r = client.get(f"/api/train/{job_id}/model.npz")
    assert r.status_code == 409
    r = TestClient(client.app).post(f"/api/train/{job_id}/use")
    assert r.status_code == 403 and r.json()["code"] == "not_your_job"
    client.post(f"/api/train/{job_id}/stop")
    wait(client, job_id, "stopped")
    assert client.post(f"/api/train/{job_id}/use").status_code == 200  # the model where it stopped


def test_a_session_on_a_trained_network_survives_serialisation() -> None:
    spec: dict[str, Any] = {"input_shape": [1, 28, 28], "dtype": "float64", "layers": [
        {"type": "Flatten", "name": "flatten1"}, {"type": "Dense", "name": "dense1", "in_features": 784,
                                                  "out_features": 10}]}
    state = SessionState(id="s", params={"dense1.W": np.ones((10, 784)), "dense1.b": np.zeros(10)}, spec=spec)
    back = SessionState.from_bytes(state.to_bytes())
    assert back.spec == spec
    assert np.array_equal(back.params["dense1.W"], state.params["dense1.W"])
    assert SessionState.from_bytes(SessionState(id="t", params={"w": np.ones(2)}).to_bytes()).spec is None

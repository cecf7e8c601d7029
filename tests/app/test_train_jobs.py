"""Training jobs (app.training): POST /api/train runs a spec in a worker process on a slice of MNIST and reports
every state and message; refusals name the limit; one job per session; a queue beyond CNN_TRAIN_WORKERS; pause,
resume and stop; a diverging job, the wall-time limit and an unwatched job end with the reason; nothing is left
running. Slices of a few hundred images, one epoch: never a long run."""

from __future__ import annotations

import io
import json
import multiprocessing
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from cnn import load_model

SMALL = {"spec": "tiny", "epochs": 1, "batch_size": 32, "train_size": 320, "lr": 0.05}
LONG = {"spec": "lenet5", "epochs": 3, "batch_size": 16, "train_size": 20_000, "lr": 0.01}  # minutes: always stopped


def training_processes(within: float = 5.0) -> list[multiprocessing.process.BaseProcess]:
    """The training processes still alive after up to `within` seconds (a process that said its last word may take a
    moment to exit)."""
    deadline = time.monotonic() + within
    while True:
        alive = [p for p in multiprocessing.active_children() if p.name.startswith("train-")]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


@pytest.fixture
def lab(make_client: Callable[..., TestClient], mnist_dir: Path) -> Iterator[Callable[..., TestClient]]:
    """lab(**settings) -> a client of a server that reads MNIST from the test data; afterwards no job runs."""

    def make(**overrides: Any) -> TestClient:
        return make_client(data_dir=mnist_dir, **overrides)

    yield make


def start(client: TestClient, **body: Any) -> str:
    r = client.post("/api/train", json={**SMALL, **body})
    assert r.status_code == 202, r.text
    job_id: str = r.json()["id"]
    return job_id


def wait(client: TestClient, job_id: str, *states: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status: dict[str, Any] = client.get(f"/api/train/{job_id}").json()
        if status["state"] in states:
            return status
        assert time.monotonic() < deadline, f"still {status['state']} after {timeout} s: {status['error']}"
        time.sleep(0.1)


def wait_for_step(client: TestClient, job_id: str, step: int) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while True:
        status: dict[str, Any] = client.get(f"/api/train/{job_id}").json()
        if status["step"] >= step or status["state"] in ("done", "failed", "stopped"):
            return status
        assert time.monotonic() < deadline
        time.sleep(0.05)


# A whole run


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_small_run_reports_everything_and_leaves_nothing_running(lab: Callable[..., TestClient],
                                                                    optimizer: str) -> None:
    client = lab()
    job_id = start(client, optimizer=optimizer, lr=0.05 if optimizer == "sgd" else 0.003)
    status = wait(client, job_id, "done", "failed", "stopped")
    assert status["state"] == "done", status["error"]
    assert status["error"] is None and status["queue_position"] is None
    assert status["total_steps"] == status["step"] == 10 and status["epoch"] == 1
    assert 0.3 < status["test_accuracy"] <= 1.0  # ten steps on 320 digits: well above chance
    history = status["history"]
    kinds = [m["type"] for m in history]
    assert kinds[:3] == ["running", "started", "snapshot"] and kinds[-1] == "done"
    assert {"progress", "validation", "checkpoint"} <= set(kinds)
    started = history[1]
    assert started["params"] == 5874 and started["train_size"] == 320 and started["probe"]["label"] == 7
    progress = [m for m in history if m["type"] == "progress"]
    assert [m["step"] for m in progress] == [5, 10]
    assert all(m["loss"] > 0 and 0 <= m["accuracy"] <= 1 and m["examples_per_second"] > 0 and m["seconds_left"] >= 0
               for m in progress)
    assert progress[-1]["seconds_left"] == 0
    snapshot = history[2]
    assert snapshot["kernels"]["shape"] == [4, 1, 5, 5] and snapshot["feature_maps"]["shape"] == [4, 24, 24]
    assert snapshot["probabilities"]["shape"] == [10]
    validation = next(m for m in history if m["type"] == "validation")
    assert validation["epoch"] == 1 and 0 <= validation["accuracy"] <= 1 and validation["loss"] > 0
    done = history[-1]
    confusion = np.array(done["confusion"])
    assert confusion.shape == (10, 10) and confusion.sum() == 10_000
    assert done["test_accuracy"] == pytest.approx(np.trace(confusion) / 10_000)
    assert done["misclassified_total"] == 10_000 - np.trace(confusion)
    assert all(m["label"] != m["predicted"] for m in done["misclassified"])
    assert len(done["misclassified"]) == min(1000, done["misclassified_total"])
    # Checkpoints from the random start to the end, each with conv1's kernels; they change as it learns.
    checkpoints = status["checkpoints"]
    assert checkpoints[0] == {"k": 0, "epoch": 0, "step": 0} and checkpoints[-1]["step"] == 10
    first = client.get(f"/api/train/{job_id}/checkpoints/0").json()
    last = client.get(f"/api/train/{job_id}/checkpoints/{checkpoints[-1]['k']}").json()
    assert first["layer"] == "conv1" and first["kernels"]["shape"] == [4, 1, 5, 5]
    assert first["kernels"]["data"] != last["kernels"]["data"]
    # The model file is cnn.save_model's and reads back to the same accuracy's network.
    r = client.get(f"/api/train/{job_id}/model.npz")
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    path = Path(client.app.state.training.manager.root) / "downloaded.npz"  # type: ignore[attr-defined]
    path.write_bytes(r.content)
    model = load_model(path)
    assert model.spec()["layers"][0]["type"] == "Conv2D" and sum(w.size for w in model.named_params().values()) == 5874
    assert training_processes() == []  # the worker exited by itself


def test_history_since_gives_only_newer_messages(lab: Callable[..., TestClient]) -> None:
    client = lab()
    job_id = start(client)
    status = wait(client, job_id, "done")
    tail = client.get(f"/api/train/{job_id}", params={"since": status["history_length"] - 1}).json()
    assert [m["type"] for m in tail["history"]] == ["done"] and tail["history_length"] == status["history_length"]


def test_the_websocket_streams_every_message_then_closes(lab: Callable[..., TestClient]) -> None:
    client = lab()
    job_id = start(client)
    received = []
    with client.websocket_connect(f"/ws/train/{job_id}") as ws:
        while True:
            message = ws.receive()
            if message["type"] == "websocket.close":
                assert message["code"] == 1000
                break
            received.append(json.loads(message["text"]))
    status = client.get(f"/api/train/{job_id}").json()
    assert received == status["history"]
    assert received[-1]["type"] == "done"


def test_the_websocket_of_an_unknown_job_says_so(lab: Callable[..., TestClient]) -> None:
    client = lab()
    with client.websocket_connect("/ws/train/nope") as ws:
        message = ws.receive_json()
        assert message["code"] == "job_not_found" and "no training job 'nope'" in message["message"]


# Refusals


@pytest.mark.parametrize(("body", "code", "message"), [
    ({"lr": 10.5}, "train_limit", "lr 10.5 is more than the limit of 10 (CNN_MAX_LEARNING_RATE)"),
    ({"epochs": 21}, "train_limit", "epochs 21 is more than the limit of 20 (CNN_TRAIN_MAX_EPOCHS)"),
    ({"train_size": 58_001}, "train_limit", "train_size 58,001 is more than the limit of 58,000 "
     "(CNN_TRAIN_MAX_TRAIN_SIZE; MNIST has 60,000 training images, 2,000 of them held out for validation)"),
    ({"train_size": 10, "batch_size": 32}, "invalid_request", "train_size 10 is less than one batch of 32: raise "
     "train_size or lower batch_size"),
    ({"spec": "vgg99"}, "invalid_spec", "no preset 'vgg99'; the presets are lenet5, lenet1998, tiny, deep_sigmoid, "
     "or send a spec object"),
    ({"spec": {"layers": [{"type": "Conv2D", "out_channels": 4, "kernel_size": 5, "stride": 2}, {"type": "Flatten"},
                          {"type": "Dense", "out_features": 10}]}},
     "invalid_spec", "the spec cannot be trained: layer 0 (conv1, Conv2D): Conv2D height: stride 2 does not fit: "
     "(W − F + 2P)/S + 1 = (28 − 5 + 2·0)/2 + 1 = 12.5 is not an integer"),
    ({"optimizer": "rmsprop"}, "invalid_request", "optimizer: Input should be 'sgd' or 'adam'"),
    ({"lr": "0.1"}, "invalid_request", "lr"),
    ({"lr": 0}, "invalid_request", "lr"),
    ({"epochs": 0}, "invalid_request", "epochs: Input should be greater than or equal to 1"),
])
def test_refusals_name_the_limit(lab: Callable[..., TestClient], body: dict[str, Any], code: str,
                                 message: str) -> None:
    client = lab()
    r = client.post("/api/train", json={**SMALL, **body})
    assert r.status_code == 422, r.text
    assert r.json()["code"] == code
    assert message in r.json()["detail"]
    assert training_processes() == []


def test_a_network_over_the_parameter_limit_is_refused(lab: Callable[..., TestClient]) -> None:
    client = lab(train_max_params=50_000)
    r = client.post("/api/train", json={**SMALL, "spec": "lenet5"})
    assert r.status_code == 422
    assert r.json() == {"code": "train_limit", "detail": "the network has 61,706 parameters, more than the limit of "
                        "50,000 (CNN_TRAIN_MAX_PARAMS)"}


def test_without_mnist_training_says_how_to_get_it_and_the_rest_works(make_client: Callable[..., TestClient],
                                                                      tmp_path: Path, seven: bytes) -> None:
    client = make_client(data_dir=tmp_path / "nothing-here")
    r = client.post("/api/train", json=SMALL)
    assert r.status_code == 409
    body = r.json()
    assert body["code"] == "training_data_missing"
    assert "cnn-data download --data" in body["detail"] and "CNN_DATA_DIR" in body["detail"]
    assert "t10k-images-idx3-ubyte.gz" in body["detail"]
    assert client.post("/api/spec/check", json={"spec": {"layers": [{"type": "Flatten"}]}}).status_code == 200
    r = client.post("/api/forward", files={"file": ("seven.png", io.BytesIO(seven), "image/png")})
    assert r.status_code == 200
    assert client.get("/api/mnist/test/0").status_code == 409


def test_unknown_jobs_and_checkpoints_are_404(lab: Callable[..., TestClient]) -> None:
    client = lab()
    r = client.get("/api/train/nope")
    assert r.status_code == 404 and r.json()["code"] == "job_not_found"
    job_id = start(client)
    wait(client, job_id, "done")
    r = client.get(f"/api/train/{job_id}/checkpoints/99")
    assert r.status_code == 404 and "no checkpoint 99 of this job; its checkpoints are 0 to" in r.json()["detail"]


def test_a_test_digit_by_index(lab: Callable[..., TestClient]) -> None:
    client = lab()
    digit = client.get("/api/mnist/test/0").json()
    assert digit["label"] == 7 and digit["image"]["shape"] == [28, 28] and digit["image"]["dtype"] == "uint8"
    r = client.get("/api/mnist/test/10000")
    assert r.status_code == 404 and "from 0 to 9999" in r.json()["detail"]


# One job per session, and the queue


def test_one_job_per_session_and_only_its_session_controls_it(lab: Callable[..., TestClient]) -> None:
    client = lab()
    job_id = start(client, **LONG)
    r = client.post("/api/train", json=SMALL)
    assert r.status_code == 409 and r.json()["code"] == "job_conflict"
    assert "one job per session" in r.json()["detail"]
    other = TestClient(client.app)  # another browser: a cookie of its own
    r = other.post(f"/api/train/{job_id}/stop")
    assert r.status_code == 403 and r.json()["code"] == "not_your_job"
    assert client.post(f"/api/train/{job_id}/stop").status_code == 200
    assert wait(client, job_id, "stopped")["error"] == "stopped on request"
    assert training_processes() == []
    # Once it has ended, the session may start another, which replaces it.
    new_id = start(client)
    assert client.get(f"/api/train/{job_id}").status_code == 404
    wait(client, new_id, "done")


def test_jobs_beyond_the_workers_wait_in_order_and_are_told_their_place(lab: Callable[..., TestClient]) -> None:
    client = lab(train_workers=1)
    second, third = TestClient(client.app), TestClient(client.app)
    first_id = start(client, **LONG)
    r = second.post("/api/train", json=SMALL)
    assert r.status_code == 202 and r.json()["state"] == "queued" and r.json()["queue_position"] == 1
    second_id = r.json()["id"]
    r = third.post("/api/train", json=SMALL)
    assert r.json()["queue_position"] == 2
    third_id = r.json()["id"]
    status = client.get(f"/api/train/{second_id}").json()
    assert status["state"] == "queued" and status["queue_position"] == 1 and status["history"] == []
    assert len(training_processes(within=0)) == 1
    # A queued job stopped never starts; the first one stopped lets the next one run.
    third.post(f"/api/train/{third_id}/stop")
    assert client.get(f"/api/train/{third_id}").json()["state"] == "stopped"
    client.post(f"/api/train/{first_id}/stop")
    assert wait(second, second_id, "done")["test_accuracy"] is not None
    assert training_processes() == []


def test_a_full_queue_is_503(lab: Callable[..., TestClient]) -> None:
    client = lab(train_workers=1, train_queue=0)
    first_id = start(client, **LONG)
    r = TestClient(client.app).post("/api/train", json=SMALL)
    assert r.status_code == 503 and "CNN_TRAIN_QUEUE=0" in r.json()["detail"]
    client.post(f"/api/train/{first_id}/stop")


# Pause, resume, stop, and the ways a job ends by itself


def test_pause_holds_the_step_resume_goes_on_and_stop_saves_the_model(lab: Callable[..., TestClient]) -> None:
    client = lab()
    job_id = start(client, **LONG)
    wait_for_step(client, job_id, 3)
    r = client.post(f"/api/train/{job_id}/pause")
    assert r.status_code == 200 and r.json()["state"] == "paused"
    time.sleep(0.5)  # a step in flight may finish
    held = client.get(f"/api/train/{job_id}").json()["step"]
    time.sleep(0.5)
    assert client.get(f"/api/train/{job_id}").json()["step"] == held
    r = client.post(f"/api/train/{job_id}/pause")
    assert r.status_code == 409 and r.json()["detail"] == "only a running job can be paused; this one is paused"
    assert client.post(f"/api/train/{job_id}/resume").json()["state"] == "running"
    assert wait_for_step(client, job_id, held + 3)["state"] == "running"
    client.post(f"/api/train/{job_id}/pause")  # a paused job stops too
    client.post(f"/api/train/{job_id}/stop")
    status = wait(client, job_id, "stopped")
    assert status["error"] == "stopped on request" and status["history"][-1]["type"] == "stopped"
    assert status["test_accuracy"] is None
    assert client.get(f"/api/train/{job_id}/model.npz").status_code == 200  # the model where it stopped
    r = client.post(f"/api/train/{job_id}/resume")
    assert r.status_code == 409 and r.json()["detail"] == "only a paused job can be resumed; this one is stopped"
    assert training_processes() == []


def test_a_diverging_job_fails_and_says_why(lab: Callable[..., TestClient]) -> None:
    client = lab(max_learning_rate=1e6)
    job_id = start(client, spec="lenet5", lr=1e6, train_size=2000, batch_size=16)
    status = wait(client, job_id, "done", "failed")
    assert status["state"] == "failed"
    assert "training diverged at step" in status["error"]
    assert "The learning rate 1e+06 is too large for this network: try a smaller one" in status["error"]
    assert status["history"][-1] == {"type": "failed", "error": status["error"]}
    assert training_processes() == []


def test_the_wall_time_limit_stops_a_job(lab: Callable[..., TestClient]) -> None:
    client = lab(train_max_seconds=2)
    job_id = start(client, **LONG)
    status = wait(client, job_id, "stopped", "failed", "done")
    assert status["state"] == "stopped"
    assert status["error"] == "the wall-time limit of 2 s was reached (CNN_TRAIN_MAX_SECONDS)"
    time.sleep(0.2)
    assert training_processes() == []


def test_a_job_nobody_watches_is_stopped(lab: Callable[..., TestClient]) -> None:
    client = lab(train_idle_seconds=1.5)
    job_id = start(client, **LONG)
    time.sleep(3)  # the page was closed: no GET, no WebSocket
    status = client.get(f"/api/train/{job_id}").json()
    assert status["state"] == "stopped", status
    assert "nobody watched it for 1.5 s" in status["error"]
    assert training_processes() == []


def test_shutting_the_server_down_ends_every_job(make_client: Callable[..., TestClient], mnist_dir: Path) -> None:
    client = TestClient(make_client(data_dir=mnist_dir).app)
    with client:
        start(client, **LONG)
        assert len(training_processes(within=0)) == 1
    assert training_processes(within=0) == []  # terminated and joined before the server's exit returned


def test_a_finished_job_unseen_as_long_as_a_session_lasts_is_forgotten(lab: Callable[..., TestClient]) -> None:
    client = lab(session_idle_seconds=2)
    job_id = start(client)
    wait(client, job_id, "done")
    root = client.app.state.training.manager.root  # type: ignore[attr-defined]
    assert (root / job_id / "model.npz").is_file()
    time.sleep(3)
    assert client.get(f"/api/train/{job_id}").status_code == 404
    assert not (root / job_id).exists()

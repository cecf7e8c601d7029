"""Training jobs through Redis and RQ (CNN_SESSION_STORE=redis://…, app.training.rq_jobs): a job started on one
server process is watched, downloaded and used through another, as replicas behind a proxy serve one learner; it runs
in a cnn-train-worker; the queue, stop, and the refusal without workers. Against a redis-server of the tests' own and
workers started here, on a few hundred digits."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from rq import Queue, Worker

from app.training.rq_jobs import QUEUE
from tests.app.test_train_jobs import LONG, SMALL, wait

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
SECRET = "a-secret-every-replica-shares"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A redis-server of this test's own. Absent, the test skips with the reason, except in CI (CI=true), where
    .ci/run installs it and its absence is a failure."""
    if not Path(REDIS_SERVER).exists():
        message = "redis-server not found (apt-get install redis-server)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    port = _free_port()
    proc = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                             "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield url
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def workers(redis_url: str, mnist_dir: Path) -> Iterator[Callable[[int], None]]:
    """workers(n): n cnn-train-worker processes on the test's Redis, reading the test MNIST; all ended afterwards."""
    procs: list[subprocess.Popen[bytes]] = []
    connection = redis.Redis.from_url(redis_url)

    def start(n: int) -> None:
        for _ in range(n):
            procs.append(subprocess.Popen([sys.executable, "-m", "app.training.rq_worker", "--url", redis_url],
                                          env={**os.environ, "CNN_DATA_DIR": str(mnist_dir)},
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 30
        while Worker.count(queue=Queue(QUEUE, connection=connection)) < len(procs):
            assert time.monotonic() < deadline, "the workers did not register"
            time.sleep(0.1)

    yield start
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    connection.close()


@pytest.fixture
def replicas(make_client: Callable[..., TestClient], redis_url: str, tmp_path: Path) -> Callable[[], TestClient]:
    """replicas() -> a client of another server process on the same Redis, with the same cookie key."""
    cookie_jar: dict[str, str] = {}

    def make() -> TestClient:
        # A data folder without MNIST: with RQ, the server never reads it, the workers do.
        client = make_client(session_store=redis_url, session_secret=SECRET, data_dir=tmp_path / "no-mnist")
        client.cookies.update(cookie_jar)
        return client

    return make


def share_cookie(source: TestClient, target: TestClient) -> None:
    target.cookies.update(dict(source.cookies))


def test_a_job_started_on_one_replica_is_watched_and_used_through_another(
        replicas: Callable[[], TestClient], workers: Callable[[int], None], seven: bytes) -> None:
    workers(1)
    a, b = replicas(), replicas()
    r = a.post("/api/train", json=SMALL)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    share_cookie(a, b)  # the browser's next request lands on the other replica
    status = wait(b, job_id, "done", "failed", "stopped")
    assert status["state"] == "done", status["error"]
    assert status["test_accuracy"] > 0.3 and status["total_steps"] == status["step"] == 10
    kinds = [m["type"] for m in status["history"]]
    assert kinds[0] == "running" and kinds[1] == "started" and kinds[-1] == "done"
    assert {"progress", "snapshot", "validation", "checkpoint"} <= set(kinds)
    assert a.get(f"/api/train/{job_id}").json()["history"] == status["history"]
    last = status["checkpoints"][-1]["k"]
    first_kernels = a.get(f"/api/train/{job_id}/checkpoints/0").json()["kernels"]
    assert first_kernels["shape"] == [4, 1, 5, 5]
    assert b.get(f"/api/train/{job_id}/checkpoints/{last}").json()["kernels"]["data"] != first_kernels["data"]
    assert a.get(f"/api/train/{job_id}/model.npz").content[:2] == b"PK"  # an .npz (zip) archive
    with b.websocket_connect(f"/ws/train/{job_id}") as ws:
        assert [ws.receive_json()["type"] for _ in kinds] == kinds
    # Used through B, then run through A: the session, in Redis, carries the trained network's spec and weights.
    assert b.post(f"/api/train/{job_id}/use").status_code == 200
    assert [layer["kind"] for layer in a.get("/api/model").json()["layers"]][-1] == "Dense"
    assert len(a.get("/api/model").json()["layers"]) == 5
    r = a.post("/api/forward", files={"file": ("7.png", seven, "image/png")})
    assert r.status_code == 200 and len(r.json()["layers"]) == 5
    assert b.post("/api/backward", json={"target": 7}).status_code == 200


def test_the_queue_and_stop_through_redis(replicas: Callable[[], TestClient], workers: Callable[[int], None]) -> None:
    workers(1)
    a, b = replicas(), replicas()  # two browsers (each its own cookie)
    first = a.post("/api/train", json={**SMALL, **LONG}).json()["id"]
    assert a.post("/api/train", json=SMALL).status_code == 409  # one job per session, on any replica
    wait(a, first, "running")
    r = b.post("/api/train", json=SMALL)
    assert r.status_code == 202 and r.json()["state"] == "queued" and r.json()["queue_position"] == 1
    second = r.json()["id"]
    assert b.post(f"/api/train/{first}/stop").status_code == 403
    assert a.post(f"/api/train/{first}/pause").json()["state"] == "paused"
    assert a.post(f"/api/train/{first}/resume").json()["state"] == "running"
    a.post(f"/api/train/{first}/stop")
    stopped = wait(a, first, "stopped")
    assert stopped["error"] == "stopped on request" and stopped["history"][-1]["type"] == "stopped"
    assert a.get(f"/api/train/{first}/model.npz").status_code == 200  # the model where it stopped
    assert wait(b, second, "done")["test_accuracy"] is not None  # the worker took the next one


def test_without_workers_the_answer_says_to_start_one(replicas: Callable[[], TestClient]) -> None:
    r = replicas().post("/api/train", json=SMALL)
    assert r.status_code == 503
    body: dict[str, Any] = r.json()
    assert body["code"] == "no_training_workers" and "cnn-train-worker --url" in body["detail"]

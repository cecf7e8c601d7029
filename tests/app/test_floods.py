"""Fair under floods: expensive work goes through one bounded gate (503 with Retry-After beyond it), a tab has at most
one request waiting (429 beyond it), and ordinary passes still run while the gate is full.

The gate is held by a gradcheck made slow on purpose: the network's gradcheck is replaced by one that waits on a
threading.Event the test sets, so that "full" is a state the test controls, not a race.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.config import SettingsError, load_settings
from app.services.container import Services
from tests.app.api_helpers import MakeClient, png_file
from tests.app.conftest import data_url
from tests.app.ws_helpers import expect_error, run_pass

WAIT = 10.0  # seconds a test waits for a state it caused before failing


def input_body(samples: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
    """The page's own 28×28 input: a forward that needs no image decoding, so no place in the gate."""
    data = (samples[0][7] / 255.0).astype("<f4").tobytes()
    return {"input": {"shape": [28, 28], "dtype": "float32", "data": base64.b64encode(data).decode()}}


def tab(name: str) -> dict[str, dict[str, str]]:
    return {"headers": {"X-Tab-Id": name}}


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.005)


class SlowGradcheck:
    """Stands in for NetworkService.gradcheck: counts the checks that started, and each waits until `release`."""

    def __init__(self, real: Callable[..., Any]) -> None:
        self.real, self.release, self.started = real, threading.Event(), 0

    def __call__(self, state: Any, body: Any) -> Any:
        self.started += 1
        if not self.release.wait(WAIT):
            raise RuntimeError("the test never released the gradcheck")
        return self.real(state, body)


@contextmanager
def held_gradchecks(client: TestClient) -> Iterator[tuple[Services, SlowGradcheck, ThreadPoolExecutor]]:
    """The client's gradcheck made slow, a pool to send requests from, and everything released on the way out."""
    svc: Services = client.app.state.services  # type: ignore[attr-defined]
    slow = SlowGradcheck(svc.network.gradcheck)
    svc.network.gradcheck = slow  # type: ignore[method-assign]
    pool = ThreadPoolExecutor(max_workers=4)
    try:
        yield svc, slow, pool
    finally:
        slow.release.set()
        pool.shutdown(wait=True)


def ready(client: TestClient, samples: tuple[np.ndarray, np.ndarray], name: str) -> None:
    """A tab after a forward and a backward, so that its gradcheck can run."""
    assert client.post("/api/forward", json=input_body(samples), **tab(name)).status_code == 200
    assert client.post("/api/backward", json={"target": 3}, **tab(name)).status_code == 200


def gradcheck(client: TestClient, pool: ThreadPoolExecutor, name: str) -> Future[httpx.Response]:
    return pool.submit(client.post, "/api/gradcheck", json={"param": "conv1.W", "samples": 4}, **tab(name))


def test_a_full_gate_answers_503_with_retry_after_at_once_and_ordinary_passes_still_run(
        make_client: MakeClient, samples: tuple[np.ndarray, np.ndarray], seven: bytes) -> None:
    client = make_client(engine_workers=1, engine_queue=1)
    for name in ("running", "waiting", "refused", "learner"):
        ready(client, samples, name)
    with held_gradchecks(client) as (svc, slow, pool):
        running = gradcheck(client, pool, "running")
        wait_until(lambda: slow.started == 1, "the first gradcheck runs")
        waiting = gradcheck(client, pool, "waiting")
        wait_until(lambda: svc.gate.admitted == 2, "the second gradcheck waits in the gate")

        refused = client.post("/api/gradcheck", json={"param": "conv1.W"}, **tab("refused"))
        assert refused.status_code == 503
        assert refused.json() == {
            "code": "overloaded",
            "detail": "the server is busy with other learners' checks, exports and uploads (1 running, 1 waiting, "
                      "the most it takes); try again in a moment"}
        assert int(refused.headers["Retry-After"]) >= 1
        # An upload's decoding and an export take a place in the gate too: refused the same way.
        assert client.post("/api/forward", files=png_file(seven), **tab("refused")).status_code == 503
        export = client.get("/api/export", **tab("refused"))
        assert (export.status_code, export.json()["code"]) == (503, "overloaded")
        assert "Retry-After" in export.headers

        # A learner's passes of one image do not go through the gate: they run while it is full.
        assert client.post("/api/forward", json=input_body(samples), **tab("learner")).status_code == 200
        assert client.post("/api/backward", json={"target": 7}, **tab("learner")).status_code == 200
        assert client.post("/api/step", json={"lr": 0.01}, **tab("learner")).status_code == 200
        assert client.get("/healthz").status_code == 200
        assert not running.done() and not waiting.done()

        slow.release.set()
        assert running.result(WAIT).status_code == 200
        assert waiting.result(WAIT).status_code == 200
    assert (svc.gate.admitted, svc.gate.served, svc.gate.refused) == (0, 2, 3)
    # Room again: the next check runs.
    again = client.post("/api/gradcheck", json={"param": "conv1.W"}, **tab("refused"))
    assert again.status_code == 200, again.text


def test_a_third_request_of_a_tab_with_one_running_and_one_waiting_is_answered_429(
        make_client: MakeClient, samples: tuple[np.ndarray, np.ndarray]) -> None:
    client = make_client()
    ready(client, samples, "tab")
    with held_gradchecks(client) as (svc, slow, pool):
        running = gradcheck(client, pool, "tab")
        wait_until(lambda: slow.started == 1, "the tab's gradcheck runs")
        waiting = pool.submit(client.post, "/api/step", json={"lr": 0.01}, **tab("tab"))
        wait_until(lambda: any(s.requests == 2 for s in svc.in_flight.values()), "the tab's step waits for it")

        third = client.post("/api/backward", json={"target": 1}, **tab("tab"))
        assert third.status_code == 429
        assert third.json() == {"code": "busy",
                                "detail": "a request of this tab is still running; try again in a moment"}
        assert third.headers["Retry-After"] == "1"
        # Another tab of the same browser is its own session: not held up.
        assert client.post("/api/forward", json=input_body(samples), **tab("other")).status_code == 200

        slow.release.set()
        assert running.result(WAIT).status_code == 200
        assert waiting.result(WAIT).status_code == 200  # the waiting request ran, in order, after the first
    assert svc.in_flight == {}  # nothing is kept for a tab with no request in flight
    assert client.post("/api/backward", json={"target": 1}, **tab("tab")).status_code == 200


def test_on_the_websocket_an_image_waits_for_the_gate_and_an_input_does_not(
        make_client: MakeClient, samples: tuple[np.ndarray, np.ndarray], seven: bytes) -> None:
    client = make_client(engine_workers=1, engine_queue=0)
    ready(client, samples, "running")
    with held_gradchecks(client) as (svc, slow, pool), client.websocket_connect("/ws?tab=socket") as ws:
        running = gradcheck(client, pool, "running")
        wait_until(lambda: slow.started == 1, "the gradcheck runs")

        ws.send_json({"cmd": "forward", "image": data_url(seven)})
        expect_error(ws, "overloaded", "the server is busy", "(1 running, 0 waiting, the most it takes)")
        start, layers, _ = run_pass(ws, "forward", **input_body(samples))  # the socket stays usable
        assert start["prediction"] == 7 and len(layers) == 12

        slow.release.set()
        assert running.result(WAIT).status_code == 200
        start, _, _ = run_pass(ws, "forward", image=data_url(seven))  # room again: the image is decoded
        assert start["prediction"] == 7
    assert svc.gate.refused == 1


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("engine_workers", 0, "CNN_ENGINE_WORKERS=0: Input should be greater than 0"),
    ("engine_queue", -1, "CNN_ENGINE_QUEUE=-1: Input should be greater than or equal to 0"),
])
def test_gate_settings_that_make_no_sense_stop_the_server(variable: str, value: int, message: str) -> None:
    with pytest.raises(SettingsError) as e:
        load_settings(**{variable: value})
    assert message in str(e.value)

"""The Redis session store (CNN_SESSION_STORE=redis://…) against a real redis-server started for these tests: every
field round-trips, a learner who has not stepped costs a few KB, time to live is the idle limit and use renews it,
and two server processes on one Redis serve one learner as one would."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import redis
from fastapi.testclient import TestClient

from app.config import SettingsError, load_settings
from app.main import create_app
from app.services.network import NetworkService
from app.services.redis_store import RedisSessionStore
from app.services.sessions import SessionState
from cnn.pretrained import PRETRAINED_PATH
from tests.app.test_sessions import full_state
from tests.redis_server import RedisServer, free_port

SECRET = "a-secret-both-processes-share"


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """Database 0 of the test server, emptied."""
    url = f"{redis_server.url}/0"
    with redis.Redis.from_url(url) as client:
        client.flushdb()
    return url


@pytest.fixture(scope="module")
def served() -> dict[str, np.ndarray]:
    return NetworkService(PRETRAINED_PATH).initial_params


def make_store(url: str, served: dict[str, np.ndarray], idle: int = 1800) -> RedisSessionStore:
    return RedisSessionStore(url, idle, served)


def test_every_field_round_trips(redis_url: str, served: dict[str, np.ndarray]) -> None:
    store = make_store(redis_url, served)
    before = full_state()
    before.refused_steps, before.version = 2, 1234567
    store.put(before)
    after = store.get(before.id)
    assert after is not None and after is not before
    assert (after.id, after.target, after.loss, after.steps) == (before.id, 3, "mse", 4)
    assert (after.refused_steps, after.version) == (2, 1234567)
    assert after.loss_history == before.loss_history  # floats exactly, through JSON
    for name in ("params", "velocity", "preprocess_steps"):
        got, want = getattr(after, name), getattr(before, name)
        assert list(got) == list(want), name
        for key in want:
            assert got[key].dtype == want[key].dtype
            np.testing.assert_array_equal(got[key], want[key])  # bit for bit
    assert after.input is not None
    np.testing.assert_array_equal(after.input, before.input)
    assert store.get("someone-else") is None


def test_a_session_that_has_not_stepped_is_small_and_loads_the_served_weights(
        redis_url: str, served: dict[str, np.ndarray]) -> None:
    store = make_store(redis_url, served)
    state = SessionState(id="fresh:tab", params=dict(served), input=np.random.default_rng(0).random((28, 28)))
    state.changed()
    assert not state.owns_params
    store.put(state)
    assert store.stored_bytes("fresh:tab") < 16 * 1024  # the input (6 KB) and a header; no weights
    after = store.get("fresh:tab")
    assert after is not None and not after.owns_params  # read-only again: the first step copies (copy on write)
    assert list(after.params) == list(served)
    for key, value in served.items():
        np.testing.assert_array_equal(after.params[key], value)
    assert after.version == state.version


def test_a_session_that_stepped_keeps_its_own_weights_exactly(redis_url: str, served: dict[str, np.ndarray]) -> None:
    store = make_store(redis_url, served)
    rng = np.random.default_rng(5)
    own = {k: v + rng.standard_normal(v.shape) * 1e-3 for k, v in served.items()}  # float64, writeable
    store.put(SessionState(id="stepped", params=own, steps=1))
    after = store.get("stepped")
    assert after is not None and after.owns_params
    assert store.stored_bytes("stepped") > sum(v.nbytes for v in own.values())
    for key, value in own.items():
        assert after.params[key].dtype == np.float64
        np.testing.assert_array_equal(after.params[key], value)


def test_the_stored_bytes_are_the_session_and_its_weights_apart(redis_url: str,
                                                                  served: dict[str, np.ndarray]) -> None:
    store = make_store(redis_url, served)
    store.put(full_state())
    with redis.Redis.from_url(redis_url) as client:
        head, weights = client.mget(f"cnn:session:{full_state().id}", f"cnn:weights:{full_state().id}")
    # A JSON header and raw arrays each (tests/app/test_sessions.py): no pickle.
    assert head == full_state().to_bytes(weights=False)
    assert weights == full_state().weights_bytes()


def test_the_weights_are_rewritten_only_when_they_change(redis_url: str, served: dict[str, np.ndarray]) -> None:
    """A forward (a new input) writes a few KB; a step, which changes the weights, writes them."""
    store = make_store(redis_url, served)
    store.put(full_state())
    state = store.get(full_state().id)
    assert state is not None
    key = f"cnn:weights:{state.id}"
    with redis.Redis.from_url(redis_url) as client:
        client.setrange(key, len(client.get(key)) - 8, b"\x00" * 8)  # a mark: the last weight's bytes zeroed
        marked = client.get(key)
        state.input = np.zeros((28, 28))
        state.changed(weights=False)
        store.put(state)
        assert client.get(key) == marked  # not rewritten
        assert 0 < client.ttl(key) <= 1800  # but kept alive with the session
        state.changed()
        store.put(state)
        assert client.get(key) == state.weights_bytes() != marked
    again = store.get(state.id)
    assert again is not None and again.weights_version == state.weights_version


def test_a_session_whose_weights_are_gone_is_read_as_lost(redis_url: str, served: dict[str, np.ndarray]) -> None:
    """Redis evicted the weights but not the rest (maxmemory): lost, never run on the wrong weights."""
    store = make_store(redis_url, served)
    store.put(full_state())
    with redis.Redis.from_url(redis_url) as client:
        client.delete(f"cnn:weights:{full_state().id}")
    assert store.get(full_state().id) is None


def test_a_session_stored_by_another_version_is_read_as_lost(redis_url: str, served: dict[str, np.ndarray]) -> None:
    store = make_store(redis_url, served)
    with redis.Redis.from_url(redis_url) as client:
        client.set("cnn:session:old:tab", b"PK\x03\x04 an .npz from before")
    assert store.get("old:tab") is None


def test_from_bytes_without_the_served_weights_says_so(served: dict[str, np.ndarray]) -> None:
    data = SessionState(id="fresh", params=dict(served)).to_bytes()
    with pytest.raises(ValueError, match="runs on the served weights: from_bytes needs them"):
        SessionState.from_bytes(data)


def test_time_to_live_is_the_idle_limit_and_use_renews_it(redis_url: str, served: dict[str, np.ndarray]) -> None:
    store = make_store(redis_url, served, idle=600)
    store.put(SessionState(id="b1:t", params=dict(served)))
    assert 598 <= store.ttl("b1:t") <= 600
    with redis.Redis.from_url(redis_url) as client:
        assert 598 <= int(client.ttl("cnn:browser:b1")) <= 600
        client.expire("cnn:session:b1:t", 10)
        assert store.get("b1:t") is not None
        assert store.ttl("b1:t") >= 598  # get renewed it (GETEX)
        client.expire("cnn:session:b1:t", 10)
        store.put(SessionState(id="b1:t", params=dict(served)))
        assert store.ttl("b1:t") >= 598  # and so does put
    assert store.knows_browser("b1:other-tab") and not store.knows_browser("b2:t")
    store.reserve()  # nothing to do: Redis's maxmemory bounds the memory
    assert len(store) == 1
    store.delete("b1:t")
    assert store.get("b1:t") is None and len(store) == 0


def test_a_session_idle_past_the_limit_is_gone(redis_url: str, served: dict[str, np.ndarray]) -> None:
    store = make_store(redis_url, served, idle=1)
    store.put(SessionState(id="short:t", params=dict(served)))
    assert len(store) == 1 and store.knows_browser("short:t")
    time.sleep(1.5)
    assert store.get("short:t") is None
    assert len(store) == 0 and not store.knows_browser("short:t")


# Two server processes (two apps) on one Redis


Run = Callable[[TestClient, str, str, dict[str, Any] | None], dict[str, Any]]


def _run(client: TestClient, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    r = client.request(method, path, json=body, headers={"X-Tab-Id": "tab1"})
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def _input(digit: np.ndarray) -> dict[str, Any]:
    """The page's own 28×28 input, float32 in base64."""
    data = (digit / 255.0).astype("<f4").tobytes()
    return {"shape": [28, 28], "dtype": "float32", "data": base64.b64encode(data).decode()}


def _learner(samples: tuple[np.ndarray, np.ndarray]) -> list[tuple[int, str, str, dict[str, Any] | None]]:
    """A learner's passes and which app serves each: forward, backward, step, then backward and step again on the
    other app (its warm pass is of the old weights, and must not be used), then forward and reset."""
    image, other = _input(samples[0][3]), _input(samples[0][5])
    return [(0, "POST", "/api/forward", {"input": image}),
            (0, "POST", "/api/backward", {"target": 5}),
            (1, "POST", "/api/backward", {"target": 5}),
            (0, "POST", "/api/step", {"lr": 0.1, "momentum": 0.9}),
            (1, "POST", "/api/backward", {"target": 5}),
            (0, "POST", "/api/backward", {"target": 5}),
            (1, "POST", "/api/step", {"lr": 0.1, "momentum": 0.9}),
            (0, "POST", "/api/step", {"lr": 0.1, "momentum": 0.9}),
            (1, "GET", "/api/params/conv1", None),
            (0, "POST", "/api/forward", {"input": other}),
            (1, "POST", "/api/backward", {"target": 2}),
            (0, "POST", "/api/reset", None),
            (1, "POST", "/api/backward", {"target": 2})]


def test_two_apps_on_one_redis_serve_one_learner_as_one_app_does(
        redis_url: str, make_client: Callable[..., TestClient], samples: tuple[np.ndarray, np.ndarray]) -> None:
    alone = make_client(session_store=redis_url, session_secret=SECRET)
    expected = [_run(alone, method, path, body) for _, method, path, body in _learner(samples)]

    apps = [make_client(session_store=redis_url, session_secret=SECRET) for _ in range(2)]
    got = []
    for which, method, path, body in _learner(samples):
        got.append(_run(apps[which], method, path, body))
        if len(got) == 1:  # the browser carries the cookie the first app issued to whichever answers next
            cookie = apps[0].cookies.get("cnn_session", domain="testserver.local")
            assert cookie is not None
            apps[1].cookies.set("cnn_session", cookie, domain="testserver.local")
    assert got == expected
    assert got[3]["forward"] != got[0]  # the step changed something


def test_healthz_counts_the_sessions_in_redis(redis_url: str, make_client: Callable[..., TestClient],
                                              samples: tuple[np.ndarray, np.ndarray]) -> None:
    first = make_client(session_store=redis_url, session_secret=SECRET)
    second = make_client(session_store=redis_url, session_secret=SECRET)
    assert first.get("/healthz").json()["sessions"] == 0
    image = _input(samples[0][1])
    for tab in ("a", "b"):
        r = first.post("/api/forward", json={"input": image}, headers={"X-Tab-Id": tab})
        assert r.status_code == 200, r.text
    assert second.get("/healthz").json()["sessions"] == 3  # the browser's own session and its two tabs'


@pytest.mark.parametrize("url", ["redis:/localhost", "http://localhost:6379", "redis://localhost:6379/notanumber"])
def test_a_bad_url_stops_start_up_naming_the_variable(url: str) -> None:
    with pytest.raises(SettingsError, match="CNN_SESSION_STORE") as e:
        load_settings(session_store=url)
    assert "Redis URL" in str(e.value)


def test_a_redis_that_does_not_answer_stops_start_up_naming_the_variable() -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    with pytest.raises(RuntimeError, match="cannot start: CNN_SESSION_STORE=redis://:\\*\\*\\*@127.0.0.1") as e:
        with TestClient(create_app(load_settings(session_store=url))):
            pass
    assert "Redis does not answer" in str(e.value) and "hunter2" not in str(e.value)

"""Sessions: the in-memory store keeps memory within its budget (only idle sessions evicted, least recently used
first; idle expiry), sessions that have not stepped share the served weights, a session serialises without pickle,
and session ids are the server's own (signed): one a client makes up is replaced."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.services.sessions import (
    SESSION_OVERHEAD,
    InMemorySessionStore,
    SessionIds,
    SessionsFull,
    SessionState,
    is_valid_session_id,
    new_session_id,
)
from tests.app.conftest import png_bytes


class Clock:
    """A hand-driven replacement for the store's monotonic clock."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


SIZE = 100_000  # bytes a test session owns (its input)


def state(name: str) -> SessionState:
    return SessionState(id=name, params={"w": np.zeros(2)}, input=np.zeros(SIZE // 8))


def store_with_clock(sessions: int = 10, idle_seconds: float = 600,
                     evictable_after: float = 60) -> tuple[InMemorySessionStore, Clock]:
    """A store whose budget holds `sessions` test sessions."""
    store = InMemorySessionStore(sessions * state("x").nbytes(), idle_seconds, evictable_after)
    clock = Clock()
    store._now = clock
    return store, clock


# The store


def test_put_get_delete_and_len() -> None:
    store, _ = store_with_clock()
    assert len(store) == 0 and store.get("a") is None
    a = state("a")
    store.put(a)
    store.put(state("b"))
    assert len(store) == 2
    assert store.get("a") is a
    store.delete("a")
    assert store.get("a") is None and len(store) == 1
    store.delete("never-there")  # deleting what is not there is not an error
    assert len(store) == 1


def test_putting_the_same_id_again_replaces_it_without_growing() -> None:
    store, _ = store_with_clock()
    store.put(state("a"))
    newer = state("a")
    store.put(newer)
    assert len(store) == 1 and store.get("a") is newer


def test_over_the_budget_idle_sessions_go_least_recently_used_first() -> None:
    store, clock = store_with_clock(sessions=2, evictable_after=60)
    for name in "abc":
        store.put(state(name))
        clock.t += 100  # each idle long enough to be evicted
    assert len(store) == 2
    assert store.get("a") is None
    assert store.get("b") is not None and store.get("c") is not None


def test_a_get_refreshes_so_the_least_recently_used_goes_first() -> None:
    store, clock = store_with_clock(sessions=2, evictable_after=60)
    store.put(state("a"))
    store.put(state("b"))
    clock.t += 100
    assert store.get("a") is not None  # a is now the most recently used; b the least
    clock.t += 100
    store.put(state("c"))
    assert store.get("b") is None
    assert store.get("a") is not None and store.get("c") is not None
    assert len(store) == 2


def test_a_session_in_use_is_never_evicted_a_new_one_is_refused_instead() -> None:
    store, clock = store_with_clock(sessions=3, evictable_after=60)
    store.put(state("a"))
    store.put(state("b"))
    store.reserve()  # room for a third
    store.put(state("c"))
    clock.t += 60  # used 60 s ago: not idle long enough to be evicted
    with pytest.raises(SessionsFull) as info:
        store.reserve()
    assert str(info.value) == f"3 sessions in use hold {3 * state('x').nbytes() / 2**20:.3g} MB, the budget of " \
                              f"{3 * state('x').nbytes() / 2**20:.3g} MB"
    assert len(store) == 3
    clock.t += 1  # now all three are idle long enough: only the least recently used goes to make room
    store.reserve()
    assert store.get("a") is None and store.get("b") is not None and store.get("c") is not None


def test_a_session_that_has_not_stepped_owns_only_its_input() -> None:
    shared = {"w": np.zeros(1000)}
    shared["w"].flags.writeable = False
    fresh = SessionState(id="f", params=dict(shared), input=np.zeros((28, 28)))
    assert not fresh.owns_params and fresh.nbytes() == 28 * 28 * 8 + SESSION_OVERHEAD
    stepped = SessionState(id="s", params={"w": shared["w"].copy()}, input=np.zeros((28, 28)))
    assert stepped.owns_params and stepped.nbytes() == 28 * 28 * 8 + 8000 + SESSION_OVERHEAD


def test_a_session_idle_too_long_is_dropped() -> None:
    store, clock = store_with_clock(idle_seconds=60)
    store.put(state("old"))
    clock.t += 30
    store.put(state("new"))
    clock.t += 30  # old: exactly 60 s idle, still kept
    assert len(store) == 2
    clock.t += 1  # old: 61 s idle
    assert store.get("old") is None
    assert store.get("new") is not None
    assert len(store) == 1


def test_using_a_session_keeps_it_alive() -> None:
    store, clock = store_with_clock(idle_seconds=60)
    store.put(state("a"))
    for _ in range(5):
        clock.t += 50
        assert store.get("a") is not None  # each use resets its idle time
    clock.t += 61
    assert store.get("a") is None
    assert len(store) == 0


def test_after_a_long_idle_every_session_goes() -> None:
    store, clock = store_with_clock(sessions=100, idle_seconds=60)
    for i in range(20):
        store.put(state(f"s{i}"))
    clock.t += 3600
    assert len(store) == 0


# Serialisation


def full_state() -> SessionState:
    rng = np.random.default_rng(1)
    return SessionState(
        id="abcDEF123_-:tab1",
        params={"conv1.W": rng.standard_normal((6, 1, 5, 5)), "conv1.b": rng.standard_normal(6),
                "dense3.W": rng.standard_normal((10, 84))},
        velocity={"conv1.W": rng.standard_normal((6, 1, 5, 5)), "conv1.b": rng.standard_normal(6)},
        input=rng.random((28, 28)),
        preprocess_steps={"grayscale": rng.random((112, 96)), "inverted": rng.random((112, 96)),
                          "cropped": rng.random((80, 64)), "scaled": rng.random((20, 16)),
                          "centered": rng.random((28, 28))},
        target=3,
        loss="mse",
        steps=4,
        loss_history=[2.5, 1.25, 0.1 + 0.2, 1e-300],
    )


def test_to_bytes_and_from_bytes_round_trip_every_field() -> None:
    before = full_state()
    after = SessionState.from_bytes(before.to_bytes())
    assert after.id == before.id
    assert (after.target, after.loss, after.steps) == (3, "mse", 4)
    assert after.loss_history == before.loss_history  # floats exactly, through JSON
    for name in ("params", "velocity", "preprocess_steps"):
        got, want = getattr(after, name), getattr(before, name)
        assert list(got) == list(want), name  # same names, same order
        for key in want:
            assert got[key].dtype == want[key].dtype
            np.testing.assert_array_equal(got[key], want[key])  # bit for bit
    assert after.input is not None
    np.testing.assert_array_equal(after.input, before.input)


def test_a_fresh_session_round_trips_with_nothing_optional() -> None:
    before = SessionState(id="x", params={"conv1.b": np.arange(6.0)})
    after = SessionState.from_bytes(before.to_bytes())
    assert after.input is None and after.target is None
    assert after.velocity == {} and after.preprocess_steps == {} and after.loss_history == []
    assert (after.steps, after.loss) == (0, "cross_entropy")
    np.testing.assert_array_equal(after.params["conv1.b"], np.arange(6.0))


def test_the_bytes_are_a_json_header_and_raw_arrays_without_pickle() -> None:
    state = full_state()
    data = state.to_bytes()
    size = int.from_bytes(data[:4], "little")
    header = json.loads(data[4 : 4 + size])  # plain JSON: nothing to unpickle
    names = [name for name, _, _ in header["arrays"]]
    assert "param/conv1.W" in names and "velocity/conv1.b" in names and "step/centered" in names and "input" in names
    lengths = [int(np.prod(shape)) * np.dtype(dtype).itemsize for _, dtype, shape in header["arrays"]]
    assert 4 + size + sum(lengths) == len(data)  # the arrays' raw bytes and nothing else


@pytest.mark.parametrize("damage", ["truncated", "longer", "other format", "object array"])
def test_damaged_bytes_are_refused_with_a_value_error(damage: str) -> None:
    data = full_state().to_bytes()
    size = int.from_bytes(data[:4], "little")
    header = json.loads(data[4 : 4 + size])
    if damage == "truncated":
        data = data[:-8]
    elif damage == "longer":
        data += b"\0" * 8
    else:
        if damage == "other format":
            header["format"] = "cnn-session-0"
        else:
            header["arrays"][0][1] = "|O"
        head = json.dumps(header).encode()
        data = len(head).to_bytes(4, "little") + head + data[4 + size :]
    with pytest.raises(ValueError):
        SessionState.from_bytes(data)


# Session ids


@pytest.mark.parametrize(
    "value",
    [None, "", " ", "a b", "a\tb", 'ab"cd', "ab'cd", "../etc/passwd", "a/b", "a\\b", "a;b", "a,b", "a=b",
     "x" * 81, "é" * 10, "a\nb", "a\x00b", "%2e%2e"],
    ids=repr,
)
def test_odd_session_ids_are_refused(value: str | None) -> None:
    assert not is_valid_session_id(value)


@pytest.mark.parametrize("value", ["a", "x" * 80, "AZaz09-_", "abc:tab-1"])
def test_session_ids_of_the_url_safe_alphabet_are_accepted(value: str) -> None:
    assert is_valid_session_id(value)


def test_new_session_ids_are_valid_and_distinct() -> None:
    ids = {new_session_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(is_valid_session_id(i) and len(i) == 24 and ":" not in i for i in ids)


# Through the app

MakeClient = Callable[..., TestClient]


def issued(client: TestClient) -> str:
    """A new browser: a session cookie the server issues (loading the page), and the client set to carry it."""
    client.cookies.clear()
    cookie = client.get("/").cookies["cnn_session"]
    use_cookie(client, cookie)
    return cookie


def use_cookie(client: TestClient, cookie: str) -> None:
    """Make the client's next requests carry this session cookie (and no other)."""
    client.cookies.clear()
    client.cookies.set("cnn_session", cookie, domain="testserver.local")


def forward(client: TestClient, png: bytes, cookie: str) -> list[float]:
    use_cookie(client, cookie)
    r = client.post("/api/forward", files={"file": ("d.png", png, "image/png")})
    assert r.status_code == 200, r.text
    return r.json()["probabilities"]


def step_away(client: TestClient, cookie: str) -> None:
    """Train this session's copy of the weights towards a wrong label, so it no longer matches the pretrained one."""
    use_cookie(client, cookie)
    for path, body in (("/api/backward", {"target": 3}), ("/api/step", {"lr": 0.003})):
        r = client.post(path, json=body)
        assert r.status_code == 200, r.text


def test_a_session_that_steps_gets_weights_of_its_own_and_a_reset_shares_them_again(client: TestClient,
                                                                                   seven: bytes) -> None:
    cookie = issued(client)
    forward(client, seven, cookie)
    store, served = client.app.state.services.store, client.app.state.services.network.initial_params  # type: ignore[attr-defined]
    state = store.get(cookie)
    assert all(state.params[k] is v for k, v in served.items())  # shared, read-only: no copy yet
    step_away(client, cookie)
    assert state.owns_params and not any(np.shares_memory(state.params[k], v) for k, v in served.items())
    assert store.total_bytes >= sum(v.nbytes for v in served.values())  # the budget counts its copy
    assert client.post("/api/reset").status_code == 200
    assert all(state.params[k] is v for k, v in served.items())
    assert store.total_bytes < sum(v.nbytes for v in served.values())


def test_over_the_budget_an_idle_session_goes_and_its_browser_hears_session_expired(
    make_client: MakeClient, samples: tuple[np.ndarray, np.ndarray]
) -> None:
    images, _ = samples
    client = make_client(session_memory_mb=1, session_evictable_seconds=0)  # two stepped sessions fill 1 MB
    seven = png_bytes(images[7])
    first, second = issued(client), issued(client)
    pretrained = forward(client, seven, first)
    step_away(client, first)
    assert forward(client, seven, first)[3] > pretrained[3] + 0.1  # the first session's weights really changed
    forward(client, seven, second)
    step_away(client, second)  # over the budget now: the first, idle and least recently used, goes
    store = client.app.state.services.store  # type: ignore[attr-defined]
    assert store.get(first) is None and store.get(second) is not None
    use_cookie(client, first)
    r = client.post("/api/backward", json={"target": 3})
    assert (r.status_code, r.json()["code"]) == (409, "session_expired")
    assert "lost" in r.json()["detail"] and "send the input again" in r.json()["detail"]
    again = forward(client, seven, first)  # the same cookie, a new session from the pretrained weights
    np.testing.assert_allclose(again, pretrained, rtol=1e-12, atol=1e-15)
    assert client.post("/api/backward", json={"target": 3}).status_code == 200  # usable at once


def test_memory_stays_within_the_budget_with_many_browsers(make_client: MakeClient,
                                                           samples: tuple[np.ndarray, np.ndarray]) -> None:
    images, _ = samples
    client = make_client(session_memory_mb=1, session_evictable_seconds=0)
    store = client.app.state.services.store  # type: ignore[attr-defined]
    png = png_bytes(images[1])
    biggest = 0
    for i in range(12):
        cookie = issued(client)
        forward(client, png, cookie)  # an input and its preprocessing steps
        if i % 3 == 0:
            step_away(client, cookie)  # and half a megabyte of weights of its own
        biggest = max(biggest, store.get(cookie).nbytes())
        assert store.total_bytes <= 2**20 + biggest  # over by one session's growth at most, never more
    assert 2 <= len(store) < 12


def test_requests_without_a_cookie_stay_within_the_budget(make_client: MakeClient) -> None:
    client = make_client(session_memory_mb=1, session_evictable_seconds=0)
    store = client.app.state.services.store  # type: ignore[attr-defined]
    for _ in range(600):  # each a new browser: a session of SESSION_OVERHEAD bytes
        client.cookies.clear()
        assert client.post("/api/reset").status_code == 200
    assert store.total_bytes <= 2**20 + SESSION_OVERHEAD
    assert len(store) <= 2**20 // SESSION_OVERHEAD + 1


def test_a_full_server_refuses_a_new_session_with_503_and_retry_after(make_client: MakeClient,
                                                                       seven: bytes) -> None:
    client = make_client(session_memory_mb=1, session_evictable_seconds=3600)  # nobody is idle long enough
    for _ in range(2):  # two sessions with weights of their own: about 1.4 MB, over the budget
        cookie = issued(client)
        forward(client, seven, cookie)
        step_away(client, cookie)
    client.cookies.clear()
    r = client.post("/api/forward", files={"file": ("d.png", seven, "image/png")})
    assert r.status_code == 503 and r.headers["retry-after"] == "60", r.text
    assert r.json()["code"] == "overloaded" and "the server is full" in r.json()["detail"]
    use_cookie(client, cookie)  # a learner already in keeps working
    assert client.post("/api/step", json={"lr": 0.001}).status_code == 200


def test_an_idle_session_expires_through_the_app(
    make_client: MakeClient, samples: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    images, _ = samples
    client = make_client(session_idle_seconds=60)
    store = client.app.state.services.store  # type: ignore[attr-defined]
    clock = Clock()
    monkeypatch.setattr(store, "_now", clock)
    cookie = issued(client)
    forward(client, png_bytes(images[2]), cookie)
    clock.t += 61
    use_cookie(client, cookie)
    r = client.post("/api/backward", json={"target": 2})
    assert (r.status_code, r.json()["code"]) == (409, "session_expired")  # the input went with the session


def test_a_new_browser_hears_no_forward_yet_not_session_expired(client: TestClient) -> None:
    issued(client)
    r = client.post("/api/backward", json={"target": 2})
    assert (r.status_code, r.json()["code"]) == (409, "no_forward_yet")


def test_cookies_are_the_servers_own_signed_ids() -> None:
    ids, other = SessionIds("a secret of sixteen+"), SessionIds("another secret, 16+")
    cookie = ids.issue()
    assert ids.verify(cookie) and not other.verify(cookie)
    session_id, _, signature = cookie.partition(".")
    assert not ids.verify(session_id) and not ids.verify(f"{session_id}.{signature[:-1]}x")
    assert not ids.verify(new_session_id() + "." + signature)
    assert not ids.verify(None) and not ids.verify(cookie + ":tab")


def test_a_made_up_cookie_is_replaced_not_adopted(client: TestClient) -> None:
    made_up = new_session_id()
    use_cookie(client, made_up)
    r = client.post("/api/reset")
    new = r.cookies.get("cnn_session")
    assert new and new != made_up and client.app.state.services.ids.verify(new)  # type: ignore[attr-defined]
    assert client.app.state.services.store.get(made_up) is None  # type: ignore[attr-defined]


def test_the_cookie_lives_as_long_as_an_idle_session(make_client: MakeClient) -> None:
    client = make_client(session_idle_seconds=900)
    header = client.get("/").headers["set-cookie"]
    assert "Max-Age=900" in header and "HttpOnly" in header and "SameSite=strict" in header
    assert "Secure" not in header  # plain HTTP here


def test_a_bad_cookie_is_replaced_not_used(client: TestClient) -> None:
    use_cookie(client, "../../etc/passwd")
    r = client.post("/api/reset")
    assert r.status_code == 200
    new = r.cookies.get("cnn_session")
    assert new and new != "../../etc/passwd" and is_valid_session_id(new)
    store = client.app.state.services.store  # type: ignore[attr-defined]
    assert store.get("../../etc/passwd") is None and store.get(new) is not None


def test_a_cookie_with_a_tab_suffix_cannot_reach_another_tab(client: TestClient) -> None:
    """'abc:tab' is how a tab's session is keyed, so a cookie may not contain ':' (it would name that tab)."""
    use_cookie(client, "abcdefghijklmnopqrstuvwx:a")
    r = client.post("/api/reset")
    assert r.status_code == 200
    new = r.cookies.get("cnn_session")
    assert new and ":" not in new

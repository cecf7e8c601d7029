"""Sessions: the in-memory store keeps memory bounded (LRU cap, idle expiry), a session serialises without pickle,
and session ids from the client are checked before they name anything."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.services.sessions import InMemorySessionStore, SessionState, is_valid_session_id, new_session_id
from tests.app.conftest import png_bytes


class Clock:
    """A hand-driven replacement for the store's monotonic clock."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def state(name: str) -> SessionState:
    return SessionState(id=name, params={"w": np.zeros(2)})


def store_with_clock(max_sessions: int = 10, idle_seconds: float = 60) -> tuple[InMemorySessionStore, Clock]:
    store = InMemorySessionStore(max_sessions, idle_seconds)
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


def test_the_least_recently_put_goes_first_when_full() -> None:
    store, clock = store_with_clock(max_sessions=2)
    for name in "abc":
        clock.t += 1
        store.put(state(name))
    assert len(store) == 2
    assert store.get("a") is None
    assert store.get("b") is not None and store.get("c") is not None


def test_a_get_refreshes_so_the_least_recently_used_goes_first() -> None:
    store, clock = store_with_clock(max_sessions=2)
    store.put(state("a"))
    clock.t += 1
    store.put(state("b"))
    clock.t += 1
    assert store.get("a") is not None  # a is now the most recently used; b the least
    clock.t += 1
    store.put(state("c"))
    assert store.get("b") is None
    assert store.get("a") is not None and store.get("c") is not None
    assert len(store) == 2


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
    store, clock = store_with_clock(max_sessions=100, idle_seconds=60)
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


def test_the_bytes_are_an_npz_that_needs_no_pickle() -> None:
    data = full_state().to_bytes()
    with np.load(io.BytesIO(data), allow_pickle=False) as z:  # raises if anything needed unpickling
        arrays = {k: z[k] for k in z.files}
    assert all(a.dtype != object for a in arrays.values())
    assert "header" in arrays and "param/conv1.W" in arrays and "velocity/conv1.b" in arrays
    assert "step/centered" in arrays and "input" in arrays


# Session ids


@pytest.mark.parametrize(
    "value",
    [None, "", " ", "a b", "a\tb", 'ab"cd', "ab'cd", "../etc/passwd", "..", "a/b", "a\\b", "a;b", "a,b", "a=b",
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


def test_a_third_session_evicts_the_first_which_comes_back_pretrained(
    make_client: MakeClient, samples: tuple[np.ndarray, np.ndarray]
) -> None:
    images, _ = samples
    client = make_client(max_sessions=2)
    seven = png_bytes(images[7])
    first, second, third = new_session_id(), new_session_id(), new_session_id()
    pretrained = forward(client, seven, first)
    step_away(client, first)
    trained = forward(client, seven, first)
    assert trained[3] > pretrained[3] + 0.1  # the first session's weights really changed
    forward(client, seven, second)
    forward(client, seven, third)  # the store is full: the first, least recently used, goes
    store = client.app.state.services.store  # type: ignore[attr-defined]
    assert len(store) == 2 and store.get(first) is None
    again = forward(client, seven, first)  # the same cookie, but a new session from the pretrained weights
    np.testing.assert_allclose(again, pretrained, rtol=1e-12, atol=1e-15)
    use_cookie(client, first)
    r = client.post("/api/backward", json={"target": 3})
    assert r.status_code == 200  # its input is the one just sent: usable at once


def test_memory_stays_bounded_with_many_cookies(make_client: MakeClient,
                                                samples: tuple[np.ndarray, np.ndarray]) -> None:
    images, _ = samples
    client = make_client(max_sessions=5)
    store = client.app.state.services.store  # type: ignore[attr-defined]
    png = png_bytes(images[1])
    for i in range(50):
        cookie = new_session_id()
        if i % 10 == 0:
            forward(client, png, cookie)  # some hold an input and its preprocessing steps
        else:
            use_cookie(client, cookie)
            assert client.post("/api/reset").status_code == 200
        assert len(store) <= 5
    assert len(store) == 5
    assert client.get("/healthz").json()["sessions"] == 5


def test_requests_without_a_cookie_do_not_grow_the_store_past_its_cap(make_client: MakeClient) -> None:
    client = make_client(max_sessions=3)
    store = client.app.state.services.store  # type: ignore[attr-defined]
    for _ in range(20):
        client.cookies.clear()
        assert client.post("/api/reset").status_code == 200
    assert len(store) == 3


def test_an_idle_session_expires_through_the_app(
    make_client: MakeClient, samples: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    images, _ = samples
    client = make_client(session_idle_seconds=60)
    store = client.app.state.services.store  # type: ignore[attr-defined]
    clock = Clock()
    monkeypatch.setattr(store, "_now", clock)
    cookie = new_session_id()
    forward(client, png_bytes(images[2]), cookie)
    clock.t += 61
    use_cookie(client, cookie)
    r = client.post("/api/backward", json={"target": 2})
    assert r.status_code == 409 and r.json()["code"] == "no_forward_yet"  # the input went with the session


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

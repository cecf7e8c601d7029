"""Several server processes on one real Redis (CNN_SESSION_STORE), as `--workers N` and replicas run: each request of a
learner served by another process (REST and WebSocket), one learner's concurrent requests kept in order across
processes, a whole-server restart between backward and step, Redis paused (SIGSTOP) and killed under load.

Each process is a real uvicorn on its own port of 127.0.0.1 (benchmarks.server.Server), so the test chooses which one
serves each request; `cnn-visualizer --workers 2` itself is started once at the end."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import numpy as np
import pytest
import redis
from websockets.sync.client import connect

from app.main import main
from benchmarks.server import HOST, ROOT, Server
from tests.app.wire import decode_frame
from tests.redis_server import RedisServer, free_port

pytestmark = pytest.mark.slow
TAB = {"X-Tab-Id": "tab1"}


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """Database 1 of the tests' Redis, emptied (database 0 is test_redis_store's)."""
    url = f"{redis_server.url}/1"
    with redis.Redis.from_url(url) as client:
        client.flushdb()
    yield url


@pytest.fixture
def start_servers(redis_url: str) -> Iterator[Callable[..., list[Server]]]:
    """start_servers(n) -> n server processes on the Redis store (no CNN_SESSION_SECRET: they share one through
    Redis), healthy; all stopped after the test."""
    started: list[Server] = []

    def start(n: int, **settings: str) -> list[Server]:
        servers = [Server(free_port(), settings={"session_store": redis_url, **settings}) for _ in range(n)]
        started.extend(servers)
        for server in servers:
            server.wait_healthy()
        return servers

    yield start
    for server in started:
        server.stop()


def _input(digit: np.ndarray) -> dict[str, Any]:
    data = (digit / 255.0).astype("<f4").tobytes()
    return {"input": {"shape": [28, 28], "dtype": "float32", "data": base64.b64encode(data).decode()}}


def _cookie(server: Server) -> dict[str, str]:
    """The session cookie the page sets, as a browser keeps it: per host, so it goes to every port (process)."""
    page = httpx.get(server.base_url + "/", trust_env=False)
    assert page.status_code == 200
    return {"cnn_session": page.cookies["cnn_session"]}


def _client(server: Server, cookies: dict[str, str]) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, cookies=cookies, headers=TAB, timeout=20, trust_env=False)


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _one_process_answers(samples: tuple[np.ndarray, np.ndarray]) -> list[dict[str, Any]]:
    """forward, backward, step, step as one server process with the in-memory store answers them: what the
    processes on Redis must agree with, to the last digit. A process like theirs, so that the arithmetic is too."""
    alone = Server(free_port())
    try:
        alone.wait_healthy()
        with _client(alone, _cookie(alone)) as client:
            return [_ok(client.post(path, json=body)) for path, body in _cycle(samples)]
    finally:
        alone.stop()


def _cycle(samples: tuple[np.ndarray, np.ndarray]) -> list[tuple[str, dict[str, Any]]]:
    return [("/api/forward", _input(samples[0][3])), ("/api/backward", {"target": 5}),
            ("/api/step", {"lr": 0.1, "momentum": 0.9}), ("/api/step", {"lr": 0.1, "momentum": 0.9, "target": 5})]


def test_each_request_of_a_learner_on_another_process_gives_one_process_answers(
        start_servers: Callable[..., list[Server]], samples: tuple[np.ndarray, np.ndarray]) -> None:
    expected = _one_process_answers(samples)
    servers = start_servers(3)
    cookies = _cookie(servers[2])  # the page from the third process sets the cookie all of them accept
    clients = [_client(server, cookies) for server in servers]
    got = [_ok(clients[i].post(path, json=body)) for i, (path, body) in enumerate(_cycle(samples)) if i < 3]
    got.append(_ok(clients[0].post(_cycle(samples)[3][0], json=_cycle(samples)[3][1])))
    assert got == expected
    assert got[2]["loss_after"] < got[2]["loss_before"]

    # The WebSocket on yet another process walks the backward pass of the weights the REST steps made.
    rest = _ok(clients[0].post("/api/backward", json={"target": 5}))
    url = f"ws://{HOST}:{servers[1].port}/ws?tab=tab1"
    with connect(url, additional_headers={"Cookie": f"cnn_session={cookies['cnn_session']}"}) as ws:
        ws.send(json.dumps({"cmd": "backward", "target": 5}))
        messages = []
        while not messages or messages[-1]["type"] not in ("done", "error"):
            frame = ws.recv(timeout=20)
            messages.append(decode_frame(frame) if isinstance(frame, bytes) else json.loads(frame))
    assert [m["type"] for m in messages] == ["start"] + ["layer"] * len(rest["layers"]) + ["done"], messages[0]
    assert messages[0]["loss"] == rest["loss"]


def test_one_learners_concurrent_requests_stay_ordered_across_processes(
        start_servers: Callable[..., list[Server]], samples: tuple[np.ndarray, np.ndarray]) -> None:
    """Steps of one session sent at once to two processes: each one answered 200 is applied exactly once. Without
    the lock in Redis, two processes would read the same weights, each step them, and the second write would undo
    the first (its answer 200, its step lost)."""
    servers = start_servers(2)
    cookies = _cookie(servers[0])
    with _client(servers[0], cookies) as first:
        _ok(first.post("/api/forward", json=_input(samples[0][3])))

    async def rounds_of_two_steps_at_once(rounds: int) -> list[httpx.Response]:
        clients = [httpx.AsyncClient(base_url=s.base_url, cookies=cookies, headers=TAB, timeout=30, trust_env=False)
                   for s in servers]
        try:
            for c in clients:  # connections open before the race, so both steps arrive within a fraction of a ms
                await c.get("/healthz")
            answers: list[httpx.Response] = []
            for _ in range(rounds):
                answers += await asyncio.gather(*(c.post("/api/step", json={"lr": 0.01, "target": 5})
                                                  for c in clients))
            return answers
        finally:
            for c in clients:
                await c.aclose()

    answers = asyncio.run(rounds_of_two_steps_at_once(15))
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers if r.status_code != 200][:2]
    applied = sorted(r.json()["steps"] for r in answers)
    assert applied == list(range(1, len(answers) + 1))  # each step counted once, none overwritten by another
    with _client(servers[1], cookies) as second:
        last = _ok(second.post("/api/step", json={"lr": 0.01, "target": 5}))
    assert last["steps"] == len(answers) + 1
    assert len(last["loss_history"]) == len(answers) + 1


def test_a_crashed_worker_never_leaves_a_session_locked(
        start_servers: Callable[..., list[Server]], redis_url: str, samples: tuple[np.ndarray, np.ndarray]) -> None:
    """A lock left by a process that died mid-request (set here by hand, as it would have set it) expires: the
    learner's next request waits for it, then is served."""
    from app.services import redis_store

    (server,) = start_servers(1)
    cookies = _cookie(server)
    with _client(server, cookies) as client:
        key = f"{redis_store.PREFIX}lock:{cookies['cnn_session']}:tab1"
        with redis.Redis.from_url(redis_url) as r:
            r.set(key, "a worker that died", px=1500)
        start = time.monotonic()
        _ok(client.post("/api/forward", json=_input(samples[0][3])))
        waited = time.monotonic() - start
    assert 1.0 < waited < redis_store.LOCK_WAIT_SECONDS, waited
    assert redis_store.LOCK_SECONDS <= 60  # a real crash blocks the session for half a minute at most


def test_a_restart_of_the_whole_server_between_backward_and_step(
        start_servers: Callable[..., list[Server]], samples: tuple[np.ndarray, np.ndarray]) -> None:
    expected = _one_process_answers(samples)
    (before,) = start_servers(1)
    cookies = _cookie(before)
    with _client(before, cookies) as client:
        assert _ok(client.post("/api/forward", json=_input(samples[0][3]))) == expected[0]
        assert _ok(client.post("/api/backward", json={"target": 5})) == expected[1]
    before.stop()  # every process gone, warm passes and all
    (after,) = start_servers(1)
    with _client(after, cookies) as client:
        assert _ok(client.post("/api/step", json={"lr": 0.1, "momentum": 0.9})) == expected[2]


async def _learner_cycles(base_url: str, image: dict[str, Any], until: float, log: list[tuple[float, int, str]],
                          timeout: float) -> None:
    """Forward, backward, step until `until`, every answer logged as (time, status, text); a 503 must say when to come
    back, and the learner does (no sooner than Retry-After, as the page does)."""
    async with httpx.AsyncClient(base_url=base_url, headers=TAB, timeout=timeout, trust_env=False) as client:
        await client.get("/")
        calls = [("/api/forward", image), ("/api/backward", {"target": 5}), ("/api/step", {"lr": 0.01})]
        while time.monotonic() < until:
            for path, body in calls:
                response = await client.post(path, json=body)
                log.append((time.monotonic(), response.status_code, response.text[:300]))
                if response.status_code == 503:
                    assert response.headers.get("Retry-After", "").isdigit(), response.headers
                    await asyncio.sleep(min(float(response.headers["Retry-After"]), 1.0))
                    break
                if response.status_code == 409:  # Redis lost the session (killed): the page sends its input again
                    break
            await asyncio.sleep(0.05)


def _load(servers: list[Server], image: dict[str, Any], seconds: float, during: Callable[[], None],
          timeout: float = 10) -> list[tuple[float, int, str]]:
    """Six learners, three on each of two processes, for `seconds`; `during` runs after a second of it."""
    log: list[tuple[float, int, str]] = []

    async def run() -> None:
        until = time.monotonic() + seconds
        learners = [asyncio.create_task(_learner_cycles(servers[i % 2].base_url, image, until, log, timeout))
                    for i in range(6)]
        await asyncio.sleep(1.0)
        await asyncio.to_thread(during)
        await asyncio.gather(*learners)

    asyncio.run(run())
    return log


def test_redis_paused_under_load_gives_only_503s_then_full_service(
        start_servers: Callable[..., list[Server]], redis_server: RedisServer,
        samples: tuple[np.ndarray, np.ndarray]) -> None:
    servers = start_servers(2)
    marks: dict[str, float] = {}

    def pause_three_seconds() -> None:
        marks["paused"] = time.monotonic()
        redis_server.pause()
        time.sleep(3.0)
        redis_server.resume()
        marks["resumed"] = time.monotonic()

    log = _load(servers, _input(samples[0][3]), seconds=9.0, during=pause_three_seconds, timeout=5)
    statuses = {status for _, status, _ in log}
    assert statuses <= {200, 503}, [entry for entry in log if entry[1] not in (200, 503)][:3]
    unavailable = [(t, text) for t, status, text in log if status == 503]
    assert unavailable, "the pause should have been noticed"
    assert all("session store" in text and "try again" in text for _, text in unavailable), unavailable[0]
    assert all(marks["paused"] < t < marks["resumed"] + 2.0 for t, _ in unavailable)  # none long after
    recovered = [t for t, status, _ in log if status == 200 and t > marks["resumed"] + 2.0]
    assert len(recovered) >= 30, "full service within 2 s of Redis coming back"
    answered_during = [t for t, _, _ in log if marks["paused"] + 0.5 < t < marks["resumed"]]
    assert answered_during, "requests during the pause were answered (503), not left hanging"
    with httpx.Client(base_url=servers[0].base_url, trust_env=False) as client:
        assert client.get("/healthz").status_code == 200


def test_redis_down_gives_503_with_a_plain_message_and_the_page_still_loads_then_it_comes_back(
        start_servers: Callable[..., list[Server]], redis_server: RedisServer,
        samples: tuple[np.ndarray, np.ndarray]) -> None:
    (server,) = start_servers(1)
    image = _input(samples[0][3])
    cookies = _cookie(server)
    with _client(server, cookies) as client:
        _ok(client.post("/api/forward", json=image))
        redis_server.stop()
        try:
            start = time.monotonic()
            down = client.post("/api/backward", json={"target": 5})
            assert time.monotonic() - start < 3.0
            assert down.status_code == 503 and down.headers["Retry-After"].isdigit()
            assert down.json()["code"] == "overloaded"
            assert "cannot reach its session store" in down.json()["detail"]
            assert client.get("/healthz").status_code == 503  # a load balancer sends learners elsewhere
            page = httpx.get(server.base_url + "/", trust_env=False)
            assert page.status_code == 200 and "<title>CNN Visualizer" in page.text
        finally:
            redis_server.start()  # empty: the sessions it held are gone, as after any Redis restart
        time.sleep(1.1)  # the breaker's pause
        lost = client.post("/api/backward", json={"target": 5})
        assert lost.status_code == 409 and lost.json()["code"] == "session_expired", lost.text
        _ok(client.post("/api/forward", json=image))  # what the page does on session_expired
        _ok(client.post("/api/backward", json={"target": 5}))
        _ok(client.post("/api/step", json={"lr": 0.1}))


def test_cnn_visualizer_workers_2_serves_a_learner_on_redis(
        redis_url: str, samples: tuple[np.ndarray, np.ndarray]) -> None:
    port = free_port()
    env = {"CNN_SESSION_STORE": redis_url, "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from app.main import main; sys.exit(main())",
                             "--host", HOST, "--port", str(port), "--workers", "2"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://{HOST}:{port}"
        for _ in range(150):
            try:
                if httpx.get(base + "/healthz", trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        with httpx.Client(base_url=base, headers=TAB, timeout=20, trust_env=False) as client:
            client.get("/")
            # Each request opens a new connection, so the kernel spreads them over both workers (SO_REUSEPORT is not
            # used: the workers share one listening socket and race for each connection).
            for _ in range(10):
                for path, body in _cycle(samples)[:3]:
                    response = client.post(path, json=body, headers={"Connection": "close"})
                    assert response.status_code == 200, response.text
            assert response.json()["steps"] == 10
        with redis.Redis.from_url(redis_url) as r:
            assert r.exists("cnn:cookie-secret")
    finally:
        proc.terminate()
        output = proc.communicate(timeout=20)[0].decode(errors="replace")
    assert "Started parent process" in output or "Uvicorn running" in output, output[-2000:]


def test_several_workers_without_redis_are_refused_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--workers", "2"])
    assert e.value.code == 2
    assert "CNN_SESSION_STORE=redis://" in capsys.readouterr().err

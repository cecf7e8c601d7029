"""Class mode across processes on one real Redis: a teacher's socket on one server process, students' sockets on
another (and on both), each process a real uvicorn on its own port, so the test chooses which one serves what; the
drawings reach the teacher and the pins reach every student through Redis pub/sub. Redis paused (SIGSTOP) gives
plain 503s and socket errors at once, then everything works again and pub/sub still delivers; Redis restarted, the
listeners reconnect."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from benchmarks.server import HOST, Server
from tests.redis_server import RedisServer, free_port

pytestmark = pytest.mark.slow
Message = dict[str, Any]
IMAGE = base64.b64encode(bytes(range(256)) * 3 + bytes(16)).decode()
PROBABILITIES = [0.0] * 9 + [1.0]


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """Database 2 of the tests' Redis, emptied (0 is test_redis_store's, 1 test_scaleout's)."""
    url = f"{redis_server.url}/2"
    with redis.Redis.from_url(url) as client:
        client.flushdb()
    yield url


@pytest.fixture
def servers(redis_url: str) -> Iterator[list[Server]]:
    """Two server processes on the Redis store, healthy."""
    started = [Server(free_port(), settings={"session_store": redis_url}) for _ in range(2)]
    try:
        for server in started:
            server.wait_healthy()
        yield started
        for server in started:  # whatever the test did to them, nothing escaped as an unexpected error
            assert "Traceback" not in server.output() and "Exception in ASGI" not in server.output(), server.output()
    finally:
        for server in started:
            server.stop()


def post(server: Server, path: str, body: Message) -> httpx.Response:
    return httpx.post(server.base_url + path, json=body, timeout=10, trust_env=False)


def ok(response: httpx.Response) -> Message:
    assert response.status_code in (200, 201), response.text
    answer: Message = response.json()
    return answer


def open_socket(server: Server, code: str, token: str) -> ClientConnection:
    return connect(f"ws://{HOST}:{server.port}/ws/class/{code}?token={token}", open_timeout=10)


def receive(ws: ClientConnection, timeout: float = 10.0) -> Message:
    message: Message = json.loads(ws.recv(timeout=timeout))
    return message


def until(ws: ClientConnection, kind: str, check: Callable[[Message], bool] = lambda m: True,
          timeout: float = 10.0) -> Message:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        message = receive(ws, left)
        if message["type"] == kind and check(message):
            return message
    pytest.fail(f"no {kind} message within {timeout:g} s")


def drawing(prediction: int) -> str:
    probabilities = PROBABILITIES[-prediction - 1:] + PROBABILITIES[:-prediction - 1]
    return json.dumps({"type": "drawing", "image": IMAGE, "prediction": prediction, "probabilities": probabilities})


def test_drawings_and_pins_cross_processes(servers: list[Server]) -> None:
    a, b = servers
    created = ok(post(a, "/api/class", {"title": "Year 11 CS", "pin": "4321"}))
    code = created["code"]
    students = [ok(post(servers[i % 2], f"/api/class/{code}/join", {"name": f"Student {i}"})) for i in range(6)]
    assert len({s["student"]["id"] for s in students}) == 6
    teacher_b = ok(post(b, f"/api/class/{code}/teacher", {"pin": "4321"}))["teacher_token"]  # the PIN, on B
    with open_socket(a, code, created["teacher_token"]) as teacher, open_socket(b, code, teacher_b) as projector:
        roster = receive(teacher)
        assert roster["type"] == "roster" and len(roster["students"]) == 6
        assert receive(projector)["type"] == "roster"
        with ExitStack() as stack:
            # Students 0, 2, 4 on B (away from the teacher), 1, 3, 5 on A.
            sockets = [stack.enter_context(open_socket(servers[(i + 1) % 2], code, s["token"]))
                       for i, s in enumerate(students)]
            for ws in sockets:
                assert receive(ws)["type"] == "welcome"
            for i, ws in enumerate(sockets):
                ws.send(drawing(i))
            for screen in (teacher, projector):
                seen: dict[str, int] = {}
                while len(seen) < 6:
                    tile = until(screen, "tile", lambda m: m["student"]["prediction"] is not None)["student"]
                    seen[tile["id"]] = tile["prediction"]
                assert seen == {s["student"]["id"]: i for i, s in enumerate(students)}
            teacher.send(json.dumps({"type": "pin", "student": students[0]["student"]["id"]}))
            teacher.send(json.dumps({"type": "lesson", "id": "1-forward", "card": 2}))
            for ws in sockets:
                pin = until(ws, "pin")
                assert (pin["name"], pin["image"], pin["prediction"]) == ("Student 0", IMAGE, 0)
                assert until(ws, "lesson") == {"type": "lesson", "id": "1-forward", "card": 2}
            late = ok(post(b, f"/api/class/{code}/join", {"name": "Late"}))
            assert late["class"]["pin"]["student"] == students[0]["student"]["id"]
            with open_socket(b, code, late["token"]) as ws:
                assert receive(ws)["class"]["lesson"] == {"id": "1-forward", "card": 2}
            back = ok(post(a, f"/api/class/{code}/join", {"name": "Student 2", "token": students[2]["token"]}))
            assert back["student"]["id"] == students[2]["student"]["id"] and back["last"]["prediction"] == 2
            projector.send(json.dumps({"type": "end"}))  # the second teacher screen, on B
            for ws in [*sockets, teacher]:
                assert until(ws, "ended")["reason"] == "ended"
    gone = post(a, f"/api/class/{code}/join", {"name": "Again"})
    assert gone.status_code == 404 and "check the code with your teacher" in gone.json()["detail"]


def test_pin_tries_sent_at_once_to_both_processes_count_each(servers: list[Server]) -> None:
    """Twenty wrong PINs at once, half to each process: PIN_TRIES of them are checked (403), the rest refused (429)
    without checking, because each try is counted before the PIN is."""
    from app.classroom.keys import PIN_TRIES

    code = ok(post(servers[0], "/api/class", {"pin": "2468"}))["code"]

    async def tries() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=20, trust_env=False) as client:
            return list(await asyncio.gather(*(client.post(f"{servers[i % 2].base_url}/api/class/{code}/teacher",
                                                            json={"pin": "1357"}) for i in range(20))))

    statuses = sorted(r.status_code for r in asyncio.run(tries()))
    assert statuses == [403] * PIN_TRIES + [429] * (20 - PIN_TRIES)
    assert post(servers[1], f"/api/class/{code}/teacher", {"pin": "2468"}).status_code == 429  # locked for a while


def test_the_class_limit_holds_across_processes(redis_url: str) -> None:
    servers = [Server(free_port(), settings={"session_store": redis_url, "class_max_classes": "3"}) for _ in range(2)]
    try:
        for server in servers:
            server.wait_healthy()
        answers = [post(servers[i % 2], "/api/class", {}) for i in range(5)]
        assert [r.status_code for r in answers] == [201, 201, 201, 503, 503]
        assert answers[3].headers["Retry-After"].isdigit() and "already holds 3 classes" in answers[3].json()["detail"]
    finally:
        for server in servers:
            server.stop()


def test_a_class_expires_in_redis_and_its_sockets_are_told(redis_url: str) -> None:
    server = Server(free_port(), settings={"session_store": redis_url, "class_ttl_seconds": "2"})
    try:
        server.wait_healthy()
        idle = ok(post(server, "/api/class", {}))["code"]
        created = ok(post(server, "/api/class", {}))
        ana = ok(post(server, f"/api/class/{created['code']}/join", {"name": "Ana"}))
        with open_socket(server, created["code"], ana["token"]) as ws:
            receive(ws)
            for digit in range(4):  # activity keeps the class alive past its time to live
                time.sleep(1.0)
                ws.send(drawing(digit))
            gone = post(server, f"/api/class/{idle}/join", {"name": "Bo"})
            assert gone.status_code == 404 and "ended or expired" in gone.json()["detail"]
            with redis.Redis.from_url(redis_url) as r:
                assert not r.exists(f"cnn:class:{idle}") and 0 < r.ttl(f"cnn:class:{created['code']}") <= 2
            ended = until(ws, "ended", timeout=5)
            assert ended["reason"] == "expired"
        with redis.Redis.from_url(redis_url) as r:
            assert not [k for k in r.keys("cnn:class*")], "an expired class leaves nothing behind"
    finally:
        server.stop()


def test_redis_paused_gives_plain_errors_then_service_and_pubsub_resume(
        servers: list[Server], redis_server: RedisServer) -> None:
    a, b = servers
    created = ok(post(a, "/api/class", {}))
    code = created["code"]
    ana = ok(post(b, f"/api/class/{code}/join", {"name": "Ana"}))
    with open_socket(a, code, created["teacher_token"]) as teacher, open_socket(b, code, ana["token"]) as student:
        receive(teacher), receive(student)
        student.send(drawing(1))
        until(teacher, "tile", lambda m: m["student"]["prediction"] == 1)
        redis_server.pause()
        try:
            start = time.monotonic()
            down = post(b, f"/api/class/{code}/join", {"name": "Bo"})
            assert time.monotonic() - start < 3.0
            assert down.status_code == 503 and down.headers["Retry-After"].isdigit(), down.text
            assert "cannot reach its class store" in down.json()["detail"] and "try again" in down.json()["detail"]
            assert post(a, "/api/class", {}).status_code == 503
            student.send(drawing(2))
            error = until(student, "error", timeout=5)
            assert error["code"] == "overloaded" and "class store" in error["detail"]
            teacher.send(json.dumps({"type": "unpin"}))
            assert until(teacher, "error", timeout=5)["code"] == "overloaded"
            with open_socket(a, code, ana["token"]) as refused:  # a socket opened now is told, then closed
                assert receive(refused)["code"] == "overloaded"
                with pytest.raises(ConnectionClosed) as closed:
                    receive(refused)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013  # try again later
        finally:
            redis_server.resume()
        time.sleep(1.2)  # the breaker's pause
        for digit in (3, 4):  # pub/sub delivers again, through the same listeners
            student.send(drawing(digit))
            until(teacher, "tile", lambda m, d=digit: m["student"]["prediction"] == d)  # type: ignore[misc]
        teacher.send(json.dumps({"type": "lesson", "id": "after-the-pause", "card": 1}))
        assert until(student, "lesson")["id"] == "after-the-pause"
        assert ok(post(b, f"/api/class/{code}/join", {"name": "Bo"}))["class"]["lesson"]["card"] == 1


def test_a_listener_cut_off_reconnects_and_resends_the_state(servers: list[Server], redis_url: str) -> None:
    """Redis drops every pub/sub connection (CLIENT KILL TYPE pubsub), the data stays: each process's listener
    reconnects, and its sockets get the state again (a roster, a welcome), drawings made meanwhile included."""
    a, b = servers
    created = ok(post(a, "/api/class", {}))
    code = created["code"]
    ana = ok(post(b, f"/api/class/{code}/join", {"name": "Ana"}))
    with open_socket(a, code, created["teacher_token"]) as teacher, open_socket(b, code, ana["token"]) as student:
        receive(teacher), receive(student)
        teacher.send(json.dumps({"type": "lesson", "id": "before", "card": 1}))
        until(student, "lesson")
        with redis.Redis.from_url(redis_url) as r:
            assert r.client_kill_filter(_type="pubsub") >= 2  # one listener per process
        student.send(drawing(6))  # its event may be lost while A's listener is away: then the roster brings it
        roster = until(teacher, "roster")
        assert roster["class"]["lesson"]["id"] == "before"
        if [t["prediction"] for t in roster["students"]] != [6]:  # drawn after the roster was read: its event came
            until(teacher, "tile", lambda m: m["student"]["prediction"] == 6)
        welcome = until(student, "welcome")
        assert welcome["class"]["lesson"] == {"id": "before", "card": 1} and welcome["student"]["name"] == "Ana"
        student.send(drawing(8))  # and the events flow again
        until(teacher, "tile", lambda m: m["student"]["prediction"] == 8)


def test_after_a_redis_restart_the_listeners_reconnect(servers: list[Server], redis_server: RedisServer) -> None:
    a, b = servers
    redis_server.stop()
    try:
        refused = post(a, "/api/class", {})
        assert refused.status_code == 503 and "class store" in refused.json()["detail"]
    finally:
        redis_server.start()  # empty: the classes it held are gone, as after any Redis restart
    deadline = time.monotonic() + 10
    while (created := post(a, "/api/class", {})).status_code != 201 and time.monotonic() < deadline:
        time.sleep(0.2)
    code = ok(created)["code"]
    ana = ok(post(b, f"/api/class/{code}/join", {"name": "Ana"}))
    with open_socket(a, code, created.json()["teacher_token"]) as teacher, \
            open_socket(b, code, ana["token"]) as student:
        receive(teacher), receive(student)
        delivered = False
        for _ in range(20):  # the listener may still be waiting to try again
            student.send(drawing(5))
            try:
                until(teacher, "tile", lambda m: m["student"]["prediction"] == 5, timeout=0.5)
                delivered = True
                break
            except pytest.fail.Exception:
                continue
        assert delivered, "the drawing never reached the teacher on the other process"


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _serving_pid(ws: ClientConnection, pids: list[int]) -> int:
    """The worker process holding the server's end of this socket: its TCP entry (/proc/net/tcp, the client's port
    as the remote one), then which worker has that socket's inode among its open files."""
    client_port = ws.local_address[1]
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[2].split(":")[1], 16) == client_port and fields[9] != "0":
            inode = fields[9]
    assert inode is not None, "the socket's server end is not in /proc/net/tcp"
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with suppress(OSError):
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
    pytest.fail(f"no worker of {pids} holds the socket")


def test_uvicorn_workers_2_carry_a_class_between_them(redis_url: str) -> None:
    """`uvicorn --workers 2` on one port: the kernel hands each connection to one of the workers; sockets are opened
    until both hold some, and the one that does not hold the teacher's still reaches it."""
    server = Server(free_port(), settings={"session_store": redis_url}, workers=2)
    try:
        server.wait_healthy()
        deadline = time.monotonic() + 30
        while len(workers := _children(server.proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        created = ok(post(server, "/api/class", {}))
        code = created["code"]
        with ExitStack() as stack:
            teacher = stack.enter_context(open_socket(server, code, created["teacher_token"]))
            receive(teacher)
            teacher_pid = _serving_pid(teacher, workers)
            students: list[tuple[ClientConnection, int]] = []
            while len({pid for _, pid in students} | {teacher_pid}) < 2 or len(students) < 4:
                assert len(students) < 40, "every socket went to the teacher's worker"
                joined = ok(post(server, f"/api/class/{code}/join", {"name": f"S{len(students)}"}))
                ws = stack.enter_context(open_socket(server, code, joined["token"]))
                receive(ws)
                students.append((ws, _serving_pid(ws, workers)))
            away = [ws for ws, pid in students if pid != teacher_pid]
            for i, ws in enumerate(away):
                ws.send(drawing(i % 10))
                until(teacher, "tile", lambda m, d=i % 10: m["student"]["prediction"] == d)  # type: ignore[misc]
            teacher.send(json.dumps({"type": "lesson", "id": "workers", "card": 7}))
            for ws, _ in students:
                assert until(ws, "lesson")["card"] == 7
    finally:
        output = server.output()
        server.stop()
    assert "Traceback" not in output, output


def test_a_class_opening_its_sockets_at_once_waits_its_turn_for_redis(redis_url: str) -> None:
    """400 store calls at once (a school's sockets opening): each waits its turn for one of the pool's connections
    instead of failing with "too many connections" (redis-py's default pool refuses the 101st), which tripped the
    breaker and turned every socket of every class away as if Redis were down (found by benchmarks.classmode)."""
    from app.classroom.redis_store import POOL_CONNECTIONS, RedisClassStore

    async def burst() -> list[Any]:
        store = RedisClassStore(redis_url, ttl=60)
        try:
            return await asyncio.gather(*(store.student("NOSUCH", f"s{k}") for k in range(400)))
        finally:
            await store.close()

    assert POOL_CONNECTIONS < 400
    assert asyncio.run(burst()) == [None] * 400


def test_a_turn_not_come_in_time_is_busy_not_redis_away(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Calls that wait past TURN_WAIT_SECONDS are told the server is busy; the breaker stays closed, so the next
    call goes to Redis and is answered."""
    from app.classroom import redis_store
    from app.errors import AppError

    monkeypatch.setattr(redis_store, "POOL_CONNECTIONS", 1)
    monkeypatch.setattr(redis_store, "TURN_WAIT_SECONDS", 0.05)

    async def run() -> tuple[list[Any], Any]:
        store = redis_store.RedisClassStore(redis_url, ttl=60)
        try:
            async def slow() -> None:
                await asyncio.sleep(0.3)
            held = asyncio.create_task(store._call("slow", slow))
            await asyncio.sleep(0.01)
            waited = await asyncio.gather(store.student("NOSUCH", "a"), return_exceptions=True)
            await held
            return waited, await store.student("NOSUCH", "b")
        finally:
            await store.close()

    waited, after = asyncio.run(run())
    assert isinstance(waited[0], AppError) and "busy" in waited[0].message
    assert after is None  # answered by Redis: "busy" did not open the breaker


"""Class mode across processes on a real Redis (issue 15): test_class.py's scenario with the teacher and two students
on `uvicorn app.main:app --workers 2` and the third student on a second server process (a replica) sharing the same
Redis, so that the drawings, the pin, the lesson card and the end cross processes through Redis pub/sub whichever
worker the kernel hands each socket to. Classes are bounded there too (a fourth student finds the class full), and a
restart of every server process is ridden out: both screens say they are reconnecting, then carry on in the same
class.

The servers are real uvicorn processes (benchmarks.server.Server) on free ports; the Redis is the tests' own
(tests/redis_server.py; without redis-server this fails in CI and skips elsewhere, as tests/conftest.py says).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import redis
from playwright.sync_api import Page, expect

from benchmarks.server import Server
from tests.browser.conftest import ConsoleLog, free_port
from tests.browser.helpers import draw_digit, wait_for_stroke_forward
from tests.browser.test_class import assert_in_class, join_class, run_class, start_class, tile
from tests.redis_server import RedisServer

pytestmark = pytest.mark.slow  # three server processes started per test
DB = 3  # test_redis_store uses 0, test_scaleout 1, test_classroom_redis 2


class Servers:
    """The `--workers 2` server and a replica on one Redis, stoppable and startable again on their ports."""

    def __init__(self, redis_url: str, **settings: str) -> None:
        self.settings = {"session_store": redis_url, **settings}
        self.ports = (free_port(), free_port())
        self.urls = tuple(f"http://127.0.0.1:{p}" for p in self.ports)
        self.running: list[Server] = []

    def start(self) -> None:
        self.running = [Server(self.ports[0], settings=self.settings, workers=2),
                        Server(self.ports[1], settings=self.settings)]
        for server in self.running:
            server.wait_healthy()

    def stop(self) -> None:
        for server in self.running:
            server.stop()
        self.running = []


def allow_busy_tabs(console: ConsoleLog) -> None:
    """On the Redis store a tab's requests take turns (its session's lock): the page's first burst (the weights of
    each dense layer and the forward at once) is answered 429 + Retry-After past two, and api.js asks again then.
    Chromium logs each 429; the page shows nothing, as it should."""
    console.allow(r"status of 429 \(Too Many Requests\)")


@pytest.fixture
def servers(redis_server: RedisServer) -> Iterator[Callable[..., Servers]]:
    made: list[Servers] = []

    def make(**settings: str) -> Servers:
        url = f"{redis_server.url}/{DB}"
        with redis.Redis.from_url(url) as client:
            client.flushdb()
        s = Servers(url, **settings)
        made.append(s)
        s.start()
        return s

    yield make
    for s in made:
        s.stop()


# `servers` comes first in each test's arguments: set up before the pages and so stopped after them, since a page
# still loading when its server went away would log errors.
def test_a_teacher_and_three_students_across_workers_and_replicas(
        servers: Callable[..., Servers], new_page: Callable[..., Page], console: ConsoleLog) -> None:
    console.allow(r"status of 409")  # the fourth student's join, refused: the class is full
    allow_busy_tabs(console)
    s = servers(class_max_students="3")
    workers, replica = s.urls
    run_class(new_page, workers, [workers, workers, replica], full_at=replica)


def test_a_restart_of_every_server_is_ridden_out(servers: Callable[..., Servers], new_page: Callable[..., Page],
                                                  console: ConsoleLog) -> None:
    # While the servers are down the browsers' reconnections fail, and Chromium logs each as an error.
    console.allow(r"WebSocket connection to .* failed")
    console.allow(r"Failed to load resource")
    allow_busy_tabs(console)
    s = servers()
    workers, replica = s.urls
    teacher = new_page()
    code = start_class(teacher, workers)
    student = new_page()
    join_class(student, replica, code, "Ana")
    draw_digit(student, 3)
    wait_for_stroke_forward(student)
    expect(tile(teacher, "Ana")).to_have_attribute("data-prediction", "3")

    s.stop()
    expect(student.get_by_test_id("class-status")).to_have_text("connection lost, reconnecting…")
    expect(teacher.get_by_test_id("teach-status")).to_have_text("connection lost, reconnecting…")
    s.start()
    # back within the backoff's longest wait (10 s, and a quarter more at random)
    assert_in_class(student, code, "Ana", timeout=20_000)
    expect(teacher.get_by_test_id("teach-status")).to_have_text("live", timeout=20_000)
    expect(teacher.get_by_test_id("tile")).to_have_count(1)
    draw_digit(student, 7)
    wait_for_stroke_forward(student)
    expect(tile(teacher, "Ana")).to_have_attribute("data-prediction", "7")

"""The page recovers by itself when the server lost its session: idle past the limit (the cookie expires with the
session, so the browser comes back as a new one: 409 no_forward_yet), or a restarted server (the cookie it signed is
still good, its session is gone: 409 session_expired), between a backward pass and an update. The update is applied,
no error is shown, and the page's weights are the server's.

Each test runs its own server (benchmarks.server.Server on a free port of 127.0.0.1), so that it can set the idle limit
or restart it; CNN_SESSION_SECRET is fixed, so a restarted server still recognises the cookies it signed before.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Page, expect

from benchmarks.server import Server
from cnn import load_model
from cnn.pretrained import PRETRAINED_PATH
from tests.browser.conftest import ConsoleLog, free_port, wait_for_prediction
from tests.browser.helpers import Traffic, page_params, wait_until_idle, wire_array

SECRET = "a fixed secret for the recovery tests"


class LocalServer:
    """A server of the test's own (benchmarks.server.Server) that can be stopped and started again on its port."""

    def __init__(self, **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = {"SESSION_SECRET": SECRET, **settings}
        self.server: Server | None = None

    def start(self) -> None:
        self.server = Server(self.port, settings=self.settings)
        self.server.wait_healthy()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


@pytest.fixture
def local_server() -> Iterator[Callable[..., LocalServer]]:
    servers: list[LocalServer] = []

    def make(**settings: str) -> LocalServer:
        server = LocalServer(**settings)
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def backward_then_wait(page: Page, url: str) -> Traffic:
    """Load the page (its sample 7 goes forward), run a backward pass to the end, wait for the page to be idle."""
    traffic = Traffic(page)
    page.goto(url)
    wait_for_prediction(page)
    wait_until_idle(page)
    page.keyboard.press("r")
    expect(page.get_by_test_id("progress")).to_contain_text("12 of 12", timeout=15_000)
    return traffic


def assert_recovered(page: Page, traffic: Traffic, step: dict[str, Any], code: str) -> None:
    """The step was refused once for the lost session, the input sent again, the step applied; no error shown; the
    page's weights are the server's (the pretrained ones plus this one step)."""
    posts = [c for c in traffic.calls() if c[0] == "POST"]
    first = posts.index(("POST", "/api/step"))
    assert posts[first:] == [("POST", "/api/step"), ("POST", "/api/forward"), ("POST", "/api/step")], posts
    refused = next(r for r in traffic.requests if r.url.endswith("/api/step"))
    assert refused.response() is not None and refused.response().status == 409  # type: ignore[union-attr]
    assert refused.response().json()["code"] == code  # type: ignore[union-attr]
    assert step["steps"] == 1  # the step began again from the pretrained weights: a new session's first step
    expect(page.get_by_test_id("error")).to_be_hidden()
    expect(page.get_by_test_id("update-error")).to_be_hidden()
    wait_until_idle(page)
    held = page_params(page)
    # What the server applied: the pretrained weights plus the step's Δ, as its answer reports them. Not a fresh
    # GET of the session's weights: with a 2 s idle limit the session may expire again before the test asks.
    pretrained = load_model(PRETRAINED_PATH, dtype="float64").named_params()
    stepped = {L["name"]: L["params"] for L in step["layers"]}
    for layer in ("conv1", "dense1"):
        for key in ("W", "b"):
            sent = stepped[layer][key]["delta"]
            if "outer" in sent:  # a dense layer's Δ travels as scale · u vᵀ
                u, v = (wire_array(f).astype(np.float64) for f in sent["outer"])
                delta = sent["scale"] * np.outer(u, v)
            else:
                delta = wire_array(sent).astype(np.float64)
            expected = pretrained[f"{layer}.{key}"] + delta
            np.testing.assert_allclose(held[layer][key], expected, rtol=1e-6, atol=1e-9)


def update(page: Page) -> dict[str, Any]:
    """Press Apply update and wait until the page shows step 1; the answer that brought it."""
    with page.expect_response(lambda r: r.url.endswith("/api/step") and r.status == 200) as response:
        page.get_by_test_id("apply-update").click()
    expect(page.get_by_test_id("update-summary")).to_contain_text("Step 1 ", timeout=20_000)
    return dict(response.value.json())


def test_an_update_after_the_session_expired_is_applied_without_an_error(
        new_page: Callable[..., Page], local_server: Callable[..., LocalServer], console: ConsoleLog) -> None:
    console.allow(r"status of 409")  # the refused step, which the page answers by sending its input again
    server = local_server(session_idle_seconds="2")
    page = new_page()
    traffic = backward_then_wait(page, server.url)
    page.wait_for_timeout(3000)  # idle past the limit: the session goes with its input, the cookie with it
    step = update(page)
    assert_recovered(page, traffic, step, "no_forward_yet")  # the browser came back as a new one


def test_an_update_after_a_server_restart_is_applied_without_an_error(
        new_page: Callable[..., Page], local_server: Callable[..., LocalServer], console: ConsoleLog) -> None:
    console.allow(r"status of 409")
    server = local_server()
    page = new_page()
    traffic = backward_then_wait(page, server.url)
    server.stop()
    server.start()  # the same port and secret, no sessions
    step = update(page)
    assert_recovered(page, traffic, step, "session_expired")


def test_a_busy_answer_is_asked_again_after_retry_after(page: Page, console: ConsoleLog) -> None:
    """429 (this tab has a request running and one waiting) with Retry-After: the page waits and asks again, and the
    learner sees the pass, not an error."""
    console.allow(r"status of 429")
    wait_for_prediction(page)
    wait_until_idle(page)
    answered: list[int] = []

    def busy_once(route: Any) -> None:
        if not answered:
            answered.append(429)
            route.fulfill(status=429, headers={"Retry-After": "1", "Content-Type": "application/json"},
                          body='{"detail": "a request of this tab is still running; try again in a moment", '
                               '"code": "busy"}')
        else:
            answered.append(200)
            route.continue_()

    page.route("**/api/backward", busy_once)
    started = time.monotonic()
    page.keyboard.press("r")
    expect(page.get_by_test_id("progress")).to_contain_text("12 of 12", timeout=15_000)
    assert answered == [429, 200]
    assert time.monotonic() - started >= 1.0  # it waited as it was told
    expect(page.get_by_test_id("error")).to_be_hidden()

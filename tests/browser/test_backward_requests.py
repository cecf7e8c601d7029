"""A backward pass as the page asks for it, counted in Chromium: one POST /api/backward brings every layer, and the
walk through them (Backward one layer, →, n, ←, Run to the end) asks nothing more; the page never opens a WebSocket.
A new target or loss asks again, and an answer for an older one is dropped. The loss shown is the answer's. A server
that lost the input gets it again and is asked once more; the gradient check and the update use the backward the
server holds and ask for no other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import ConsoleLog, wait_for_prediction
from tests.browser.helpers import Traffic, apply_update, blur, page_state, wait_until_idle, wire_array

LAYERS = 12


def expect_current(page: Page, index: int) -> None:
    expect(page.get_by_test_id(f"layer-{index}")).to_have_attribute("data-backward", "current")


def backward_bodies(traffic: Traffic) -> list[Any]:
    """The JSON bodies of the page's POST /api/backward requests, in order."""
    return [r.post_data_json for r in traffic.requests if urlparse(r.url).path == "/api/backward"]


def measures(page: Page, name: str) -> int:
    return int(page.evaluate("(n) => performance.getEntriesByName(n).length", name))


def wait_for_measures(page: Page, name: str, count: int) -> None:
    page.wait_for_function("([n, k]) => performance.getEntriesByName(n).length >= k", arg=[name, count])


def explained(page: Page, testid: str) -> float:
    """A number of the explanation panel, at full precision."""
    return float(page.get_by_test_id("explain").get_by_test_id(testid).get_attribute("data-value") or "nan")


def test_a_backward_is_one_request_and_the_walk_asks_nothing_more(
        new_page: Callable[..., Page], server_url: str) -> None:
    page = new_page()
    traffic = Traffic(page)  # from before the page loads: no WebSocket at any time
    page.goto(server_url)
    wait_for_prediction(page)
    page.get_by_test_id("target").select_option("3")
    blur(page)
    wait_until_idle(page)
    before = len(traffic.requests)

    with page.expect_response("**/api/backward") as response:
        page.get_by_test_id("backward-step").click()
    expect_current(page, 11)
    answer = response.value.json()
    assert [L["index"] for L in answer["layers"]] == list(reversed(range(LAYERS)))
    assert traffic.calls()[before:] == [("POST", "/api/backward")]
    assert backward_bodies(traffic) == [{"target": 3, "loss": "cross_entropy"}]
    # the cell explained is the answer's δ of the target class
    assert explained(page, "explain-y") == 1
    assert explained(page, "explain-delta") == float(wire_array(answer["layers"][0]["delta"])[3])
    wait_for_measures(page, "backward-step", 1)

    page.get_by_test_id("backward-step").click()
    expect_current(page, 10)
    page.keyboard.press("ArrowRight")
    expect_current(page, 9)
    page.keyboard.press("n")
    expect_current(page, 8)
    assert [page.get_by_test_id(f"layer-{i}").get_attribute("data-backward") for i in range(8)] == ["pending"] * 8
    wait_for_measures(page, "backward-step", 4)  # one per layer revealed, each painted
    page.keyboard.press("ArrowLeft")
    expect_current(page, 9)
    page.get_by_test_id("backward-run").click()
    expect_current(page, 0)
    wait_for_measures(page, "backward-run", 1)
    expect(page.get_by_test_id("progress")).to_contain_text("the error has reached the input")
    page.wait_for_timeout(300)  # a request the walk made would show itself by now
    assert traffic.calls()[before:] == [("POST", "/api/backward")], traffic.calls()
    assert traffic.sockets == []


def test_a_new_target_or_loss_asks_again_and_an_older_answer_is_dropped(page: Page) -> None:
    held: list[Route] = []

    def hold(route: Route) -> None:  # each request waits until the test lets it through
        held.append(route)

    page.route("**/api/backward", hold)

    def wait_for_requests(count: int) -> None:
        for _ in range(200):
            if len(held) >= count:
                return
            page.wait_for_timeout(25)
        raise AssertionError(f"{len(held)} backward requests, not {count}")

    page.get_by_test_id("target").select_option("3")
    blur(page)
    page.get_by_test_id("backward-step").click()
    wait_for_requests(1)
    page.get_by_test_id("target").select_option("5")  # before the answer for 3 has come
    blur(page)
    wait_for_requests(2)
    assert [r.request.post_data_json for r in held] == [{"target": t, "loss": "cross_entropy"} for t in (3, 5)]
    held[1].continue_()
    expect_current(page, 11)
    with page.expect_response(lambda r: r.request == held[0].request):
        held[0].continue_()  # the answer for 3 comes last
    page.wait_for_timeout(300)
    assert page_state(page, "(s) => [s.backward.target, s.held.target]") == [5, 5]
    expect(page.get_by_test_id("explain")).to_contain_text("class 5")
    assert explained(page, "explain-y") == 1
    assert explained(page, "explain-delta") < 0  # p₅ − 1

    page.unroute("**/api/backward")
    traffic = Traffic(page)
    with page.expect_response("**/api/backward") as response:
        page.get_by_test_id("loss-name").select_option("mse")
    blur(page)
    assert backward_bodies(traffic) == [{"target": 5, "loss": "mse"}]
    loss = page.get_by_test_id("loss")
    expect(loss).to_contain_text("½Σ(t − y)²")
    expect(loss).to_have_attribute("data-value", str(response.value.json()["loss"]))
    expect_current(page, 11)  # the walk starts again at the loss


def test_the_loss_shown_is_the_answers(page: Page) -> None:
    """Rewritten on its way, the answer's loss is the one the page shows."""
    def rewrite(route: Route) -> None:
        body = route.fetch().json()
        route.fulfill(json={**body, "loss": 1.234567})

    page.route("**/api/backward", rewrite)
    page.get_by_test_id("target").select_option("3")
    blur(page)
    page.get_by_test_id("backward-run").click()
    expect_current(page, 0)
    expect(page.get_by_test_id("loss")).to_have_attribute("data-value", "1.234567")


def test_a_lost_input_is_sent_again_and_the_backward_asked_once_more(page: Page, console: ConsoleLog) -> None:
    console.allow(r"status of 409")
    wait_until_idle(page)
    page.context.clear_cookies()  # the server knows this page no more: a new session, with no input
    traffic = Traffic(page)
    page.get_by_test_id("target").select_option("3")
    blur(page)
    page.get_by_test_id("backward-step").click()
    expect_current(page, 11)
    page.wait_for_timeout(300)
    posts = [r for r in traffic.requests if r.method == "POST"]
    assert [urlparse(r.url).path for r in posts] == ["/api/backward", "/api/forward", "/api/backward"], \
        traffic.calls()
    assert [r.response().status for r in posts] == [409, 200, 200]
    # A new session has the pretrained weights: the page drops its own copy and fetches the server's once.
    assert sorted(c for c in traffic.calls() if c[0] == "GET") == [
        ("GET", f"/api/params/{name}") for name in ("conv1", "conv2", "dense1", "dense2", "dense3")]
    assert backward_bodies(traffic)[1] == {"target": 3, "loss": "cross_entropy"}
    expect(page.get_by_test_id("error")).to_have_text("")


def test_the_gradient_check_and_the_update_use_the_backward_the_server_holds(page: Page) -> None:
    page.get_by_test_id("target").select_option("3")
    blur(page)
    page.get_by_test_id("lr").fill("0.01")
    wait_until_idle(page)
    traffic = Traffic(page)
    page.get_by_test_id("backward-run").click()
    expect_current(page, 0)
    page.get_by_test_id("gradcheck-param").select_option("dense3.b")
    page.get_by_test_id("gradcheck").click()
    expect(page.get_by_test_id("gradcheck-table")).to_be_visible(timeout=20_000)
    apply_update(page, 1)
    wait_until_idle(page)
    assert traffic.calls() == [("POST", "/api/backward"), ("POST", "/api/gradcheck"), ("POST", "/api/step")], \
        traffic.calls()
    assert traffic.requests[-1].post_data_json == {"lr": 0.01, "momentum": 0, "target": 3, "loss": "cross_entropy"}
    # the weights moved: the pass shown belonged to the old ones
    expect(page.get_by_test_id("layer-11")).to_have_attribute("data-backward", "pending")

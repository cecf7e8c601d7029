"""What the page sends, counted in Chromium: nothing computed twice, nothing sent twice.

A drawing travels as the 28×28 input the page preprocessed itself (JSON, float32), never as a PNG; a file as the file.
An update is one POST /api/step and nothing else (no image, no weights fetched, no backward), and after it the page
shows the answer's forward and holds the server's weights. A reset applies the forward it answers with. When the
server has lost the input, the page sends its 28×28 input again and retries. A backward pass is one POST /api/backward
that brings every layer; stepping through it asks nothing more, and the page never opens a WebSocket. A new target or
loss asks again, and an answer for an older one is dropped. The loss shown is the answer's.
"""

from __future__ import annotations

import json
from urllib.parse import urlparse

import numpy as np
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ConsoleLog
from tests.browser.helpers import (
    Traffic,
    apply_update,
    blur,
    digit_png,
    draw_digit,
    page_params,
    page_state,
    plot_traces,
    server_params,
    wait_for_stroke_forward,
    wait_until_idle,
    wire_array,
)

LAYERS_WITH_WEIGHTS = ["conv1", "conv2", "dense1", "dense2", "dense3"]
EPS32 = float(np.finfo(np.float32).eps)
STEPS = ["grayscale", "inverted", "cropped", "scaled", "centered"]


def probabilities_shown(page: Page) -> list[float]:
    return [float(v) for v in plot_traces(page.get_by_test_id("probabilities"))[0]["y"]]


def test_an_update_is_one_step_request_and_the_page_takes_its_answer(page: Page) -> None:
    page.get_by_test_id("target").select_option("3")
    blur(page)
    page.get_by_test_id("lr").fill("0.01")
    wait_until_idle(page)
    pretrained = {name: server_params(page, name) for name in LAYERS_WITH_WEIGHTS}
    traffic = Traffic(page)
    for step in (1, 2):  # the second step adds its Δ to weights the page made itself from the first
        logits_before = np.float32(page_state(page, "(s) => Array.from(s.forward.layers.at(-1).data)"))
        answer = apply_update(page, step)
        wait_until_idle(page)
    assert traffic.calls() == [("POST", "/api/step")] * 2, traffic.calls()
    assert traffic.sockets == []
    body = traffic.requests[-1].post_data_json
    assert body == {"lr": 0.01, "momentum": 0, "target": 3, "loss": "cross_entropy"}, body

    # the page shows the answer's forward, which is not the one it showed before
    forward = answer["forward"]
    assert np.abs(wire_array(forward["layers"][-1]["output"]) - logits_before).max() > 1e-2
    expect(page.get_by_test_id("prediction")).to_have_attribute("data-value", str(forward["prediction"]))
    assert probabilities_shown(page) == forward["probabilities"]
    outputs = page_state(page, "(s) => s.forward.layers.map((t) => Array.from(t.data))")
    for layer, shown in zip(forward["layers"], outputs, strict=True):
        np.testing.assert_array_equal(np.ravel(wire_array(layer["output"])), np.float32(shown), layer["name"])

    # the page's weights are the server's, to float32 rounding, and the steps moved them well beyond it
    held = page_params(page)
    assert sorted(held) == LAYERS_WITH_WEIGHTS
    for name in LAYERS_WITH_WEIGHTS:
        server = server_params(page, name)
        for key in ("W", "b"):
            tolerance = 8 * EPS32 * np.abs(server[key]).max()
            moved = np.abs(server[key] - pretrained[name][key]).max()
            assert moved > 100 * tolerance, (name, key, moved, tolerance)
            np.testing.assert_allclose(held[name][key], server[key], rtol=0, atol=tolerance, err_msg=f"{name}.{key}")


def test_an_update_with_momentum_keeps_the_weights_equal(page: Page) -> None:
    """With momentum a dense W's Δ is no outer product: the page adds the full Δ the answer carries."""
    page.get_by_test_id("target").select_option("5")
    blur(page)
    page.get_by_test_id("lr").fill("0.02")
    page.get_by_test_id("momentum").fill("0.9")
    wait_until_idle(page)
    traffic = Traffic(page)
    for step in (1, 2):
        apply_update(page, step)
        wait_until_idle(page)
    assert traffic.calls() == [("POST", "/api/step")] * 2, traffic.calls()
    held = page_params(page)
    for name in ("dense1", "dense2"):  # the parameters too large for the answer to carry their values
        W = server_params(page, name)["W"]
        np.testing.assert_allclose(held[name]["W"], W, rtol=0, atol=8 * EPS32 * np.abs(W).max(), err_msg=name)


def test_a_reset_applies_the_forward_it_answers_with(page: Page) -> None:
    pretrained = probabilities_shown(page)
    page.get_by_test_id("target").select_option("3")
    blur(page)
    page.get_by_test_id("lr").fill("0.05")
    wait_until_idle(page)
    stepped = apply_update(page, 1)["forward"]["probabilities"]
    wait_until_idle(page)
    assert stepped != pytest.approx(pretrained, abs=1e-3)
    traffic = Traffic(page)
    with page.expect_response("**/api/reset") as response:
        page.get_by_test_id("reset").click()
    expect(page.get_by_test_id("update-summary")).to_contain_text("pretrained")
    wait_until_idle(page)
    forward = response.value.json()["forward"]
    assert forward is not None
    calls = traffic.calls()
    assert calls[0] == ("POST", "/api/reset"), calls
    # the weights again, once each, and no input sent
    assert sorted(calls[1:]) == [("GET", f"/api/params/{name}") for name in LAYERS_WITH_WEIGHTS], calls
    assert probabilities_shown(page) == forward["probabilities"]
    assert forward["probabilities"] == pytest.approx(pretrained, abs=1e-9)
    expect(page.get_by_test_id("prediction")).to_have_attribute("data-value", str(forward["prediction"]))


def test_a_drawing_is_sent_as_its_28x28_input(page: Page) -> None:
    traffic = Traffic(page)
    with page.expect_response("**/api/forward") as last:
        draw_digit(page, 3)
        wait_for_stroke_forward(page)
    forwards = [r for r in traffic.requests if urlparse(r.url).path == "/api/forward"]
    assert forwards
    for request in forwards:
        assert request.headers["content-type"] == "application/json"
        body = request.post_data or ""
        assert "data:image" not in body and "image" not in json.loads(body)
    sent = json.loads(forwards[-1].post_data or "")["input"]
    assert (sent["shape"], sent["dtype"]) == ([28, 28], "float32")
    x = wire_array(sent)
    assert x.min() >= 0 and x.max() == 1 and (x > 0.5).sum() > 20  # white ink on black, its brightest pixel 1
    # the answer leaves the input out: the page has it, and it is what the page shows and holds
    assert last.value.json()["input"] is None
    held = np.float32(page_state(page, "(s) => Array.from(s.forward.input.data)"))
    np.testing.assert_array_equal(held, x.ravel())
    shown = np.array(page.get_by_test_id("input-28").evaluate(
        "(c) => Array.from(c.getContext('2d').getImageData(0, 0, 28, 28).data.filter((_, k) => k % 4 === 0))"))
    np.testing.assert_allclose(1 - shown / 255, x.ravel(), atol=0.51 / 255)  # 1 is black
    assert page.get_by_test_id("prediction").get_attribute("data-value") == "3"

    # how it got there: the page's own steps, asked of no one
    page.get_by_text("How the drawing becomes 28×28").click()
    steps = page.locator(".steps figure")
    expect(steps).to_have_count(len(STEPS))
    assert [t.split()[0] for t in page.locator(".steps figcaption").all_text_contents()] == STEPS
    page.wait_for_timeout(600)  # past the steps' debounce
    assert ("GET", "/api/input/steps") not in traffic.calls(), traffic.calls()


def test_a_file_is_sent_as_the_file_and_its_steps_come_from_the_server(page: Page) -> None:
    traffic = Traffic(page)
    with page.expect_response("**/api/forward") as response:
        page.get_by_test_id("upload").set_input_files(
            files=[{"name": "four.png", "mimeType": "image/png", "buffer": digit_png(4)}])
    assert traffic.requests[0].headers["content-type"].startswith("multipart/form-data")
    answer = response.value.json()
    assert answer["input"]["shape"] == [28, 28]  # the server preprocessed it, and says what it made
    expect(page.get_by_test_id("prediction")).to_have_attribute("data-value", "4")
    held = np.float32(page_state(page, "(s) => Array.from(s.forward.input.data)"))
    np.testing.assert_array_equal(held, wire_array(answer["input"]).ravel())
    with page.expect_response("**/api/input/steps") as steps:
        page.get_by_text("How the drawing becomes 28×28").click()
    assert steps.value.status == 200
    expect(page.locator(".steps figure")).to_have_count(len(STEPS))


def test_a_lost_input_is_sent_again_as_28x28_and_the_update_retried(page: Page, console: ConsoleLog) -> None:
    console.allow(r"status of 409")
    wait_until_idle(page)
    held = np.float32(page_state(page, "(s) => Array.from(s.forward.input.data)"))
    page.context.clear_cookies()  # the server knows this page no more: a new session, with no input
    traffic = Traffic(page)
    page.get_by_test_id("apply-update").click()
    expect(page.get_by_test_id("update-summary")).to_contain_text("Step 1 ", timeout=20_000)
    wait_until_idle(page)
    posts = [r for r in traffic.requests if r.method == "POST"]
    assert [urlparse(r.url).path for r in posts] == ["/api/step", "/api/forward", "/api/step"], traffic.calls()
    assert [r.response().status for r in posts] == [409, 200, 200]
    # The new session's weights are the pretrained ones: the page fetches the server's, after the step, once more
    # for the resent input's forward (whose answer the later request replaces).
    gets = [c for c in traffic.calls() if c[0] == "GET"]
    assert sorted(set(gets)) == [("GET", f"/api/params/{name}") for name in LAYERS_WITH_WEIGHTS], gets
    resent = json.loads(posts[1].post_data or "")
    assert list(resent) == ["input"]
    np.testing.assert_array_equal(wire_array(resent["input"]).ravel(), held)
    expect(page.get_by_test_id("update-error")).to_have_text("")

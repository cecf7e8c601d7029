"""Shareable links in a real browser: the address bar follows the page, "Copy link" hands the view over, and the link
opened in a fresh browser (its own context: no cookie, no storage, a new session on the server) shows the same view,
down to the network's input, the pass revealed, the cell picked and the learning rate. A damaged or outdated link
opens the page with a plain notice and no console error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from playwright.sync_api import Page, expect

from tests.browser.conftest import wait_for_prediction
from tests.browser.helpers import click_heatmap_cell, digit_png, draw_digit, page_state, wait_for_state, wait_until_idle

POOL2 = 5  # the served LeNet-5's second max pooling: conv1 relu pool1 conv2 relu pool2 flatten dense…

# What a view is made of, read from the page's store and fields: the same in the page that made the link and in the
# fresh browser that opened it.
VIEW = """(s) => ({
  input: Array.from(s.forward.input.data), probabilities: s.forward.probabilities, prediction: s.forward.prediction,
  target: s.target, loss: s.backward.lossName, status: s.backward.status, revealed: s.backward.revealed,
  cursor: s.cursor, selection: s.selection, neuron: s.neuron,
  lr: document.querySelector('[data-testid=lr]').value,
  momentum: document.querySelector('[data-testid=momentum]').value,
})"""


def copied_link(page: Page) -> str:
    page.get_by_test_id("copy-link").click()
    field = page.get_by_test_id("share-url")
    expect(field).to_be_visible()
    url = field.input_value()
    assert "#v=1&" in url, url
    return url


def open_fresh(new_page: Callable[..., Page], url: str) -> Page:
    page = new_page()
    page.goto(url)
    wait_for_prediction(page)
    wait_until_idle(page)
    return page


def view_of(page: Page) -> dict[str, Any]:
    wait_for_state(page, "(s) => !s.busy.forward && s.backward.status !== 'loading'")
    state: dict[str, Any] = page_state(page, VIEW)
    return state


def test_a_drawing_mid_backward_reopens_exactly_in_a_fresh_browser(page: Page, new_page: Callable[..., Page]) -> None:
    draw_digit(page, 3)
    wait_for_prediction(page)
    wait_until_idle(page)
    page.get_by_test_id("target").select_option("5")
    page.get_by_test_id("loss-name").select_option("mse")
    step = page.get_by_test_id("backward-step")
    for _ in range(7):
        step.click()
    wait_for_state(page, "(s) => s.backward.status === 'ready' && s.backward.revealed === 7")
    # a cell picked by hand in the furthest layer's map (pool2's ∂E/∂out, 16 maps of 5×5), and a learning rate typed
    assert page_state(page, "(s) => s.cursor") == POOL2
    click_heatmap_cell(page, page.get_by_test_id(f"layer-{POOL2}").locator(".bwd figure").first, 1, 2)
    wait_for_state(page, "(s) => s.selection?.idx.join() === '0,1,2'")
    page.get_by_test_id("lr").fill("0.02")
    page.get_by_test_id("lr").dispatch_event("change")
    made = view_of(page)
    url = copied_link(page)
    assert "d=k" in url and "t=5" in url and "l=mse" in url and "r=7" in url and "x=5.delta.0-1-2" in url
    assert "lr=0.02" in url

    opened = view_of(open_fresh(new_page, url))
    assert opened["input"] == made["input"]  # the same strokes drawn again: the same pixels, bit for bit
    np.testing.assert_allclose(opened["probabilities"], made["probabilities"], rtol=0, atol=1e-12)
    for key in ("prediction", "target", "loss", "status", "revealed", "cursor", "selection", "lr", "momentum"):
        assert opened[key] == made[key], key


def test_an_uploaded_image_travels_as_the_networks_input(page: Page, new_page: Callable[..., Page]) -> None:
    page.get_by_test_id("upload").set_input_files(
        {"name": "four.png", "mimeType": "image/png", "buffer": digit_png(4)})
    wait_for_state(page, "(s) => s.source?.kind === 'file' && !s.busy.forward")
    page.get_by_test_id("backward-run").click()
    made = view_of(page)
    url = copied_link(page)
    assert "d=i" in url

    opened = view_of(open_fresh(new_page, url))
    # the input as 8-bit pixels: within half a grey level of the server's preprocessing of the file
    assert np.max(np.abs(np.array(opened["input"]) - np.array(made["input"]))) <= 0.5 / 255 + 1e-6
    assert opened["prediction"] == made["prediction"]
    assert opened["revealed"] >= 9 and opened["status"] == "ready"


def test_the_address_bar_follows_the_page_and_a_pasted_link_is_opened(page: Page) -> None:
    page.get_by_test_id("backward-step").click()
    page.wait_for_function("() => location.hash.includes('r=1')")
    assert "d=s7" in page.evaluate("location.hash")
    page.evaluate("location.hash = '#v=1&d=s2&t=2&r=99'")
    wait_for_state(page, "(s) => s.backward.status === 'ready' && s.target === 2"
                         " && s.backward.revealed >= s.model.layers.length")
    assert wait_for_prediction(page) == 2
    expect(page.get_by_test_id("page-notice")).to_be_hidden()


def test_a_link_of_another_version_opens_the_page_as_usual_and_says_so(
        new_page: Callable[..., Page], server_url: str) -> None:
    page = new_page()
    page.goto(f"{server_url}/#v=9&d=s3&t=3")
    assert wait_for_prediction(page) == 7  # the page's own arrival digit
    expect(page.get_by_test_id("page-notice")).to_contain_text("another version of this page (link format 9")


def test_a_damaged_link_shows_what_it_can_and_names_the_rest(new_page: Callable[..., Page], server_url: str) -> None:
    page = new_page()
    page.goto(f"{server_url}/#v=1&d=kAAA&t=4&r=2&x=5.delta.99-99-99&m=trained.5&lr=abc")
    wait_for_prediction(page)
    wait_for_state(page, "(s) => s.backward.status === 'ready'")
    notice = page.get_by_test_id("page-notice")
    expect(notice).to_contain_text("damaged (the digit, the learning rate)")
    expect(notice).to_contain_text("not part of the pass")
    expect(notice).to_contain_text("a network trained in the lab")
    state = page_state(page, "(s) => ({ target: s.target, revealed: s.backward.revealed })")
    assert state == {"target": 4, "revealed": 2}  # the rest of the view, on the arrival digit
    assert page.get_by_test_id("lr").input_value() == "0.001"
    page.get_by_role("button", name="Dismiss this notice").click()
    expect(notice).to_be_hidden()


def test_a_cell_of_what_a_layer_passes_down_reopens(new_page: Callable[..., Page], server_url: str) -> None:
    """'down' cells are indexed in the layer below's shape (dense3 passes 84 values down to relu4)."""
    page = new_page()
    page.goto(f"{server_url}/#v=1&d=s7&t=3&r=1&c=11&x=11.down.83")
    wait_for_state(page, "(s) => s.backward.status === 'ready'")
    assert page_state(page, "(s) => s.selection") == {"layer": 11, "part": "down", "idx": [83]}
    expect(page.get_by_test_id("page-notice")).to_be_hidden()
    page.goto(f"{server_url}/#v=1&d=s7&t=3&r=1&c=11&x=11.down.84")
    expect(page.get_by_test_id("page-notice")).to_contain_text("not part of the pass")


def test_a_lesson_card_travels_with_the_view(page: Page, new_page: Callable[..., Page]) -> None:
    page.get_by_test_id("lessons-open").click()
    page.get_by_test_id("lesson-item-backward").click()
    wait_for_state(page, "(s) => s.lesson?.card === 0 && s.lesson.phase === 'ready'")
    page.get_by_test_id("lesson-next").click()
    page.get_by_test_id("lesson-next").click()
    wait_for_state(page, "(s) => s.lesson?.card === 2 && s.lesson.phase === 'ready'")
    made = view_of(page)
    title = page.get_by_test_id("lesson-title").inner_text()
    url = copied_link(page)
    assert "L=backward.2" in url

    fresh = open_fresh(new_page, url)
    wait_for_state(fresh, "(s) => s.lesson?.id === 'backward' && s.lesson.card === 2 && s.lesson.phase === 'ready'")
    expect(fresh.get_by_test_id("lesson-title")).to_have_text(title)
    opened = view_of(fresh)
    for key in ("input", "target", "revealed", "cursor", "selection"):
        assert opened[key] == made[key], key

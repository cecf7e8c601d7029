"""Layout: on a laptop (1280×800) every control is on the page, usable when it should be, and nothing runs off the
right edge; on a phone (390×844, touch) a finger draws, the page still fits its width, every layer panel can be
scrolled to, and a tap steps backpropagation."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.browser.conftest import wait_for_prediction
from tests.browser.helpers import STROKES, blur, draw_stroke, touch_stroke, wait_for_stroke_forward

LAYERS = 12
# Controls usable as soon as a digit is predicted (the sample on arrival).
ENABLED = ["draw-canvas", "clear", "brush", "target", "loss-name", "forward", "backward-step", "backward-run",
           "reset", "lr", "momentum", "apply-update", "gradcheck-param", "gradcheck-samples", "gradcheck", "export",
           "inspector-layer", "inspector-f", "inspector-i", "inspector-j"]
SHOWN = ["prediction", "probabilities", "loss", "explain", "inspector", "progress", "input-28"]


def horizontal_overflow(page: Page) -> int:
    """How many pixels the page is wider than the window (0 when it fits)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def assert_within_width(page: Page, testid: str) -> None:
    locator = page.get_by_test_id(testid)
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    width = page.viewport_size["width"] if page.viewport_size else 0
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, (testid, box)


def test_every_control_is_visible_and_usable_at_1280(page: Page) -> None:
    for testid in ENABLED:
        expect(page.get_by_test_id(testid)).to_be_visible()
        expect(page.get_by_test_id(testid)).to_be_enabled()
        assert_within_width(page, testid)
    for testid in SHOWN:
        expect(page.get_by_test_id(testid)).to_be_visible()
        assert_within_width(page, testid)
    # the file input itself is visually hidden: its label is the button people press
    expect(page.locator("label[for=upload]")).to_be_visible()
    expect(page.get_by_test_id("upload")).to_be_enabled()
    expect(page.get_by_test_id("undo")).to_be_disabled()  # a sample, not strokes: nothing to undo
    draw_stroke(page, STROKES[1][0])
    expect(page.get_by_test_id("undo")).to_be_enabled()
    for index in range(LAYERS):
        assert_within_width(page, f"layer-{index}")
    assert horizontal_overflow(page) <= 0


def test_nothing_overflows_at_1280_with_everything_shown(page: Page) -> None:
    page.get_by_test_id("target").select_option("3")
    blur(page)
    page.get_by_test_id("backward-run").click()
    expect(page.get_by_test_id("layer-0")).to_have_attribute("data-backward", "current")
    for index in range(LAYERS):  # every map painted, the kernels too
        page.get_by_test_id(f"layer-{index}").scroll_into_view_if_needed()
    page.get_by_test_id("kernels-3").click()
    page.get_by_test_id("apply-update").click()
    expect(page.get_by_test_id("update-summary")).to_contain_text("Step 1", timeout=20_000)
    page.get_by_test_id("gradcheck").click()
    expect(page.get_by_test_id("gradcheck-table")).to_be_visible(timeout=20_000)
    page.get_by_test_id("gradcheck-table").scroll_into_view_if_needed()
    assert horizontal_overflow(page) <= 0
    for index in range(LAYERS):
        assert_within_width(page, f"layer-{index}")


def test_a_phone_draws_by_touch_scrolls_to_every_layer_and_steps_by_tap(
        new_page: Callable[..., Page], server_url: str) -> None:
    page = new_page(390, 844, touch=True)
    page.goto(server_url)
    wait_for_prediction(page)
    assert horizontal_overflow(page) <= 0

    page.get_by_test_id("clear").tap()
    expect(page.get_by_test_id("prediction")).to_have_attribute("data-value", "")
    page.get_by_test_id("draw-canvas").scroll_into_view_if_needed()
    scroll_before = page.evaluate("window.scrollY")
    touch_stroke(page, STROKES[7][0])
    wait_for_stroke_forward(page)
    expect(page.get_by_test_id("prediction")).to_have_attribute("data-value", "7")
    assert page.evaluate("window.scrollY") == scroll_before  # drawing does not scroll the page
    assert horizontal_overflow(page) <= 0

    for index in reversed(range(LAYERS)):
        panel = page.get_by_test_id(f"layer-{index}")
        panel.scroll_into_view_if_needed()
        expect(panel).to_be_in_viewport()
        assert_within_width(page, f"layer-{index}")

    step = page.get_by_test_id("backward-step")
    step.scroll_into_view_if_needed()
    step.tap()
    expect(page.get_by_test_id("layer-11")).to_have_attribute("data-backward", "current")
    step.tap()
    expect(page.get_by_test_id("layer-10")).to_have_attribute("data-backward", "current")
    expect(page.get_by_test_id("layer-11")).to_have_attribute("data-backward", "done")
    expect(page.get_by_test_id("layer-9")).to_have_attribute("data-backward", "pending")
    assert horizontal_overflow(page) <= 0

"""The phone layout (390×844, touch): the step bar stays on screen wherever the page is scrolled, a step brings the
layer it reaches into view above the sheet, the sheet with "This step" opens and closes, and a tapped heatmap cell
shows its value (touch screens have no hover)."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.browser.conftest import wait_for_prediction
from tests.browser.helpers import page_state, wait_for_plot


def phone(new_page: Callable[..., Page], server_url: str) -> Page:
    page = new_page(390, 844, touch=True)
    page.goto(server_url)
    wait_for_prediction(page)
    return page


def in_window(page: Page, testid: str) -> bool:
    """Is the element wholly inside the window?"""
    return bool(page.get_by_test_id(testid).evaluate(
        "(el) => { const r = el.getBoundingClientRect(); return r.top >= 0 && r.left >= 0 "
        "&& r.bottom <= window.innerHeight + 0.5 && r.right <= window.innerWidth + 0.5; }"))


def visible_band(page: Page) -> tuple[float, float]:
    """The part of the window the sheet and the step bar leave to the page: (top, bottom) in pixels."""
    bottom = page.get_by_test_id("sheet").evaluate("(el) => el.getBoundingClientRect().top")
    return 0.0, float(bottom)


def test_the_step_bar_stays_on_screen_after_scrolling(new_page: Callable[..., Page], server_url: str) -> None:
    page = phone(new_page, server_url)
    for y in (0, 2500, 6000, 100_000):
        page.evaluate("(y) => window.scrollTo(0, y)", y)
        for testid in ("backward-step", "backward-run", "backward-prev", "target"):
            assert in_window(page, testid), (testid, y)
    page.get_by_test_id("backward-step").tap()
    expect(page.get_by_test_id("layer-11")).to_have_attribute("data-backward", "current")
    assert in_window(page, "backward-step")


def test_a_step_scrolls_the_reached_layer_into_view_beside_its_explanation(
        new_page: Callable[..., Page], server_url: str) -> None:
    page = phone(new_page, server_url)
    sheet = page.get_by_test_id("sheet")
    expect(sheet).to_have_attribute("data-open", "false")
    step = page.get_by_test_id("backward-step")
    for index in (11, 10, 9, 8, 7):
        step.tap()
        layer = page.get_by_test_id(f"layer-{index}")
        expect(layer).to_have_attribute("data-backward", "current")
        # the smooth scroll ends with the layer's backward maps at the top of the band left between the bar and sheet
        page.wait_for_function(
            """(i) => { const r = document.querySelector(`[data-testid=layer-${i}] .col-bwd`).getBoundingClientRect();
                        const band = document.querySelector('[data-testid=sheet]').getBoundingClientRect().top;
                        return r.top >= -1 && r.top < band - 100; }""", arg=index)
        expect(sheet).to_have_attribute("data-open", "true")
        expect(page.get_by_test_id("explain")).to_be_visible()
        expect(page.get_by_test_id("explain")).to_contain_text(f"Layer {index}")
    # the explanation is the sheet's, inside the window above the bar
    box = page.get_by_test_id("explain").bounding_box()
    bar = page.get_by_test_id("backward-step").bounding_box()
    assert box is not None and bar is not None and box["y"] >= 0 and box["y"] < bar["y"]


def test_the_sheet_opens_and_closes(new_page: Callable[..., Page], server_url: str) -> None:
    page = phone(new_page, server_url)
    sheet = page.get_by_test_id("sheet")
    explain = page.get_by_test_id("explain")
    expect(sheet).to_have_attribute("data-open", "false")
    expect(explain).to_be_hidden()
    page.get_by_test_id("sheet-handle").tap()
    expect(sheet).to_have_attribute("data-open", "true")
    expect(explain).to_be_visible()
    expect(explain).to_contain_text("Backpropagation starts at the loss")
    page.get_by_test_id("sheet-close").tap()
    expect(sheet).to_have_attribute("data-open", "false")
    expect(explain).to_be_hidden()

    # closed by the learner, a step leaves it closed; its tab opens it again, on the inspector's too
    page.get_by_test_id("backward-step").tap()
    expect(page.get_by_test_id("layer-11")).to_have_attribute("data-backward", "current")
    expect(sheet).to_have_attribute("data-open", "false")
    page.get_by_test_id("sheet-tab-inspector").tap()
    expect(sheet).to_have_attribute("data-open", "true")
    expect(page.get_by_test_id("inspector")).to_be_visible()
    expect(explain).to_be_hidden()
    page.get_by_test_id("sheet-tab-explain").tap()
    expect(explain).to_be_visible()
    expect(explain).to_contain_text("Layer 11")
    expect(page.get_by_test_id("inspector")).to_be_hidden()


def test_tapping_a_cell_shows_its_value(new_page: Callable[..., Page], server_url: str) -> None:
    page = phone(new_page, server_url)
    figure = page.get_by_test_id("layer-0").locator("figure.hm").first
    figure.scroll_into_view_if_needed()
    wait_for_plot(page, "[data-testid=layer-0] figure.hm")
    y, x = 9, 12  # map 0, row 9, col 12 of conv1's output (6 maps of 28×28, tiled 3 to a row)
    point = figure.locator(".js-plotly-plot").evaluate(
        """(gd, [y, x]) => { const L = gd._fullLayout, r = gd.getBoundingClientRect();
               return [r.left + L.xaxis._offset + L.xaxis.d2p(x), r.top + L.yaxis._offset + L.yaxis.d2p(y)]; }""",
        [y, x])
    page.touchscreen.tap(point[0], point[1])
    tip = figure.get_by_test_id("cell-value")
    expect(tip).to_be_visible()
    expect(tip).to_contain_text("map 0 · row 9, col 12")
    expected = page_state(page, "(s) => s.forward.layers[0].data[9 * 28 + 12]")
    assert float(tip.get_attribute("data-value") or "nan") == expected
    # the tap also opens the neuron inspector on that cell, in the sheet
    expect(page.get_by_test_id("sheet")).to_have_attribute("data-open", "true")
    expect(page.get_by_test_id("inspector")).to_be_visible()


def test_the_desktop_has_no_sheet_and_no_bar(new_page: Callable[..., Page], server_url: str) -> None:
    page = new_page()
    page.goto(server_url)
    wait_for_prediction(page)
    expect(page.get_by_test_id("sheet")).to_be_hidden()
    expect(page.get_by_test_id("explain")).to_be_visible()
    expect(page.get_by_test_id("backward-step")).to_have_text("Backward one layer ▸")
    position = page.get_by_test_id("backward-step").evaluate(
        "(el) => getComputedStyle(el.closest('.card')).position")
    assert position != "fixed"

"""Dark mode (issue 14): the page follows prefers-color-scheme until the header's switch is used, and remembers the
switch; the page's colours and the Plotly figures' chrome follow, the colour scales do not (white stays 0, with a
visible frame on the dark page); axe-core finds no serious violation in dark mode either."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.browser.conftest import wait_for_prediction
from tests.browser.helpers import wait_for_plot
from tests.browser.test_a11y import HEATMAP, assert_main_states_pass_axe

DARK_FONT, LIGHT_FONT = "#e3e8ee", "#1d232a"


def open_page(new_page: Callable[..., Page], url: str, scheme: str) -> Page:
    page = new_page()
    page.emulate_media(color_scheme=scheme)  # type: ignore[arg-type]
    page.goto(url)
    wait_for_prediction(page)
    return page


def theme(page: Page) -> str:
    return str(page.evaluate("() => document.documentElement.dataset.theme"))


def luminance(page: Page, selector: str, prop: str) -> float:
    """Relative luminance (WCAG) of a computed colour of the first element matching `selector`."""
    rgb = page.evaluate(
        """([sel, prop]) => getComputedStyle(document.querySelector(sel))[prop].match(/[\\d.]+/g).slice(0, 3)""",
        [selector, prop])
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (float(v) / 255 for v in rgb)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def conv1_layout(page: Page) -> dict:
    wait_for_plot(page, "[data-testid=layer-0]")
    return dict(page.get_by_test_id("layer-0").locator(HEATMAP).first.evaluate(
        """(gd) => ({ font: gd._fullLayout.font.color, plot: gd._fullLayout.plot_bgcolor,
                      frame: gd.layout.shapes[0].line.color, scale: gd.data.at(-1).colorscale })"""))


def test_the_page_follows_a_dark_system_and_keeps_its_scales_readable(
        new_page: Callable[..., Page], server_url: str) -> None:
    page = open_page(new_page, server_url, "dark")
    assert theme(page) == "dark"
    expect(page.get_by_test_id("theme-switch")).to_have_attribute("aria-pressed", "true")
    assert luminance(page, "body", "backgroundColor") < 0.02
    assert luminance(page, "body", "color") > 0.7
    assert luminance(page, ".card", "backgroundColor") < 0.03
    layout = conv1_layout(page)
    assert layout["font"] == DARK_FONT
    assert layout["plot"] == "#66717d", "the tiles sit on a mid grey, which sets off white and black tiles alike"
    assert layout["frame"] == "#c3ccd5", "a light frame shows where a mosaic of white (zero) tiles ends"
    # the scale is not themed: signed maps keep white at 0 (the convention said once on the page)
    page.get_by_test_id("backward-step").click()
    wait_for_plot(page, "[data-testid=layer-11] .col-bwd")
    scale = page.get_by_test_id("layer-11").locator(".col-bwd").locator(HEATMAP).first.evaluate(
        "(gd) => gd.data.at(-1).colorscale")
    assert [0.5, "#ffffff"] in scale


def test_a_light_system_gives_the_light_page(new_page: Callable[..., Page], server_url: str) -> None:
    page = open_page(new_page, server_url, "light")
    assert theme(page) == "light"
    expect(page.get_by_test_id("theme-switch")).to_have_attribute("aria-pressed", "false")
    assert luminance(page, "body", "backgroundColor") > 0.8
    assert conv1_layout(page)["font"] == LIGHT_FONT


def test_the_switch_repaints_the_figures_and_is_remembered(new_page: Callable[..., Page], server_url: str) -> None:
    page = open_page(new_page, server_url, "light")
    switch = page.get_by_test_id("theme-switch")
    switch.click()
    assert theme(page) == "dark"
    expect(switch).to_have_attribute("aria-pressed", "true")
    page.wait_for_function(
        "(c) => document.querySelector('[data-testid=layer-0] .js-plotly-plot')._fullLayout.font.color === c",
        arg=DARK_FONT)
    page.reload()
    wait_for_prediction(page)
    assert theme(page) == "dark", "the switch's choice outlives a reload, over the light system"
    assert conv1_layout(page)["font"] == DARK_FONT
    page.get_by_test_id("theme-switch").click()
    assert theme(page) == "light"
    page.wait_for_function(
        "(c) => document.querySelector('[data-testid=layer-0] .js-plotly-plot')._fullLayout.font.color === c",
        arg=LIGHT_FONT)


def test_axe_finds_no_serious_violation_in_dark_mode(new_page: Callable[..., Page], server_url: str) -> None:
    assert_main_states_pass_axe(open_page(new_page, server_url, "dark"))

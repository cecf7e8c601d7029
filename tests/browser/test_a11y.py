"""Accessibility (issue 14): axe-core finds no serious or critical violation in the page's main states; a skip link is
the first Tab stop and brings "Backward one layer" within a few keys; the page's ←/→ stepping leaves a focused select
its own arrows; every heatmap has a text alternative and its cells are reachable by keyboard.

`axe_violations` is shared with test_dark.py, which holds dark mode to the same rule."""

from __future__ import annotations

import re
from collections.abc import Callable

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

LAYERS = 12
MAX_KEYS_TO_STEP = 10
HEATMAP = "[aria-roledescription=heatmap]"


def axe_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now, one line per rule with its first nodes."""
    results = Axe().run(page)
    return [f"{v['id']} ({v['impact']}, {len(v['nodes'])} nodes): {v['help']}; "
            + "; ".join(str(n["target"]) for n in v["nodes"][:3])
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


def step_backward(page: Page, steps: int) -> None:
    for k in range(1, steps + 1):
        page.get_by_test_id("backward-step").click()
        expect(page.get_by_test_id("progress")).to_contain_text(f"{k} of {LAYERS} layers reached")


def apply_update(page: Page) -> None:
    page.get_by_test_id("apply-update").click()
    expect(page.get_by_test_id("update-summary")).to_contain_text("Step 1 ", timeout=20_000)
    expect(page.get_by_test_id("apply-update")).to_be_enabled()


def open_lab(page: Page) -> None:
    page.get_by_test_id("lab-open").click()
    expect(page.get_by_test_id("lab-open")).to_have_attribute("aria-expanded", "true")


def assert_main_states_pass_axe(page: Page) -> None:
    """Loaded with a digit predicted, mid-backward, after an update, with the training lab open."""
    assert axe_violations(page) == [], "on load"
    step_backward(page, 3)
    assert axe_violations(page) == [], "mid-backward"
    apply_update(page)
    assert axe_violations(page) == [], "after an update"
    open_lab(page)
    assert axe_violations(page) == [], "with the training lab open"
    page.get_by_test_id("copy-link").click()
    expect(page.get_by_test_id("share-url")).to_be_focused()
    assert axe_violations(page) == [], "with the share pop-over open"


def test_axe_finds_no_serious_violation_in_the_main_states(page: Page) -> None:
    assert_main_states_pass_axe(page)


def test_a_links_notice_and_the_share_pop_over_pass_axe(new_page: Callable[..., Page], server_url: str) -> None:
    page = new_page()
    page.goto(f"{server_url}/#v=1&d=kAAA&t=4")
    expect(page.get_by_test_id("page-notice")).to_contain_text("damaged")
    assert axe_violations(page) == [], "with a link's notice"
    page.get_by_test_id("copy-link").click()
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("copy-link")).to_be_focused()
    expect(page.get_by_test_id("share-url")).to_be_hidden()


def active(page: Page) -> str:
    """The focused element, by its data-testid (or tag name)."""
    return str(page.evaluate("() => document.activeElement.dataset.testid || document.activeElement.tagName"))


def test_the_skip_link_is_the_first_tab_stop_and_brings_the_step_button_within_ten_keys(page: Page) -> None:
    page.keyboard.press("Tab")
    assert active(page) == "skip-link"
    box = page.get_by_test_id("skip-link").bounding_box()
    assert box is not None and box["y"] >= 0 and box["height"] > 10, "the focused skip link is seen"
    page.keyboard.press("Enter")
    keys = 2
    while active(page) != "backward-step":
        page.keyboard.press("Tab")
        keys += 1
        assert keys <= MAX_KEYS_TO_STEP, f"'Backward one layer' not reached in {MAX_KEYS_TO_STEP} keys"
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("progress")).to_contain_text(f"1 of {LAYERS} layers reached")


def test_arrow_keys_leave_a_focused_select_alone(page: Page) -> None:
    before = page.get_by_test_id("progress").inner_text()
    target = page.get_by_test_id("target")
    chosen = target.input_value()
    target.focus()
    for key in ("ArrowRight", "ArrowLeft", "ArrowDown"):
        page.keyboard.press(key)
    assert page.get_by_test_id("progress").inner_text() == before, "the page stepped on a select's arrow key"
    assert target.input_value() != chosen, "the select's own arrows changed its option"
    # the same key off the select steps: the binding exists, and only a select's focus holds it back
    page.evaluate("() => document.activeElement.blur()")
    page.keyboard.press("ArrowRight")
    expect(page.get_by_test_id("progress")).to_contain_text(f"1 of {LAYERS} layers reached")


NUMBER = r"[−-]?[\d.]+(e[−+-]?\d+)?"  # as the page writes it (format.js): a true minus sign
LABEL = re.compile(rf"^.+: \d+( × \d+)* values from {NUMBER} to {NUMBER}\. Arrow keys")


def test_every_heatmap_has_a_text_alternative_with_its_shape_and_range(page: Page) -> None:
    step_backward(page, LAYERS)
    plots = page.locator(f"{HEATMAP}:visible")
    assert plots.count() >= LAYERS
    for plot in plots.all():
        label = plot.get_attribute("aria-label") or ""
        title = plot.locator("xpath=..").locator(".hm-title").inner_text()
        assert LABEL.match(label), label
        assert label.startswith(f"{title}: "), (label, title)
    # the first layer's output: its shape (6 maps of 28 × 28 for the served network, padding 2) in words
    conv1 = page.get_by_test_id("layer-0").locator(HEATMAP).first
    expect(conv1).to_have_attribute("aria-label", re.compile(r": 6 × 28 × 28 values from "))


def test_a_heatmaps_cells_are_read_by_keyboard(page: Page) -> None:
    progress = page.get_by_test_id("progress").inner_text()
    conv1 = page.get_by_test_id("layer-0").locator(HEATMAP).first
    live = page.get_by_test_id("layer-0").get_by_test_id("heatmap-cell").first
    conv1.focus()
    page.keyboard.press("ArrowRight")  # the first arrow puts the cursor on the first cell
    expect(live).to_have_attribute("data-index", "0,0,0")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    expect(live).to_have_attribute("data-index", "0,1,1")
    z = conv1.evaluate("(gd) => gd.data.at(-1).z[1][1]")
    assert float(live.get_attribute("data-value") or "nan") == z
    expect(live).to_contain_text(re.compile(r"at \(0, 1, 1\): [−-]?\d"))
    # the cursor is drawn: two more rectangles (white under black) than the frame
    assert conv1.evaluate("(gd) => gd.layout.shapes.slice(-2).map((s) => [s.x0, s.y0])") == [[0.5, 0.5], [0.5, 0.5]]
    # across the gap between two maps: row 23 of map 0 leads to row 0 of map 1, never to a gap
    for _ in range(23):
        page.keyboard.press("ArrowDown")
    expect(live).to_have_attribute("data-index", re.compile(r"^\d,\d+,1$"))
    assert page.get_by_test_id("progress").inner_text() == progress, "a heatmap's arrows stepped the page"
    page.keyboard.press("Tab")
    assert conv1.evaluate("(gd) => gd.layout.shapes.length") == 1, "the cursor leaves with the focus"


def test_enter_on_a_delta_cell_opens_its_arithmetic_as_a_click_does(page: Page) -> None:
    step_backward(page, LAYERS)
    delta = page.get_by_test_id("layer-0").locator(".col-bwd").locator(HEATMAP).first
    delta.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("explain")).to_contain_text(re.compile(r"\(0, 0, 0\)|\[0, 0, 0\]|row 0"))

"""The page loads and works at a glance: every layer panel, no console errors, a drawn digit gets a prediction."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import wait_for_prediction
from tests.browser.helpers import draw_digit

LAYERS = 12


def test_page_loads_with_every_layer_panel(new_page: Callable[..., Page], server_url: str) -> None:
    page = new_page(1280, 800)
    page.goto(server_url)
    for index in range(LAYERS):
        expect(page.get_by_test_id(f"layer-{index}")).to_be_attached()
    assert wait_for_prediction(page) in range(10)  # the sample digit shown on arrival
    for testid in ("draw-canvas", "clear", "undo", "brush", "upload", "target", "forward", "backward-step",
                   "backward-run", "apply-update", "lr", "reset", "explain", "inspector", "gradcheck", "export",
                   "probabilities", "loss", "error"):
        expect(page.get_by_test_id(testid)).to_have_count(1)


@pytest.mark.parametrize("digit", [1, 7])
def test_drawing_a_digit_shows_a_prediction(page: Page, digit: int) -> None:
    draw_digit(page, digit)
    expect(page.get_by_test_id("prediction")).to_have_attribute("data-value", str(digit), timeout=10_000)
    assert wait_for_prediction(page) == digit
    expect(page.get_by_test_id("error")).to_have_text("")


def test_clear_empties_the_prediction(page: Page) -> None:
    page.get_by_test_id("clear").click()
    expect(page.get_by_test_id("prediction")).to_have_attribute("data-value", "")


def test_run_to_the_end_reaches_the_input(page: Page) -> None:
    page.get_by_test_id("backward-run").click()
    for index in range(LAYERS):
        expect(page.get_by_test_id(f"layer-{index}")).not_to_have_attribute("data-backward", "pending")
    expect(page.get_by_test_id("layer-0")).to_have_attribute("data-backward", "current")

"""Drawing with the mouse: every digit drawn is read as that digit; Undo takes the last stroke away; Clear empties the
pad and the page asks for a drawing again, without errors."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import STROKES, draw_digit, draw_stroke, prediction, wait_for_stroke_forward

TOP_BAR = [(70, 48), (150, 45)]  # added to a 1, it makes a 7


@pytest.mark.parametrize("digit", sorted(STROKES))
def test_a_drawn_digit_is_read_as_that_digit(page: Page, digit: int) -> None:
    draw_digit(page, digit)
    wait_for_stroke_forward(page)
    assert prediction(page) == digit
    expect(page.get_by_test_id("error")).to_have_text("")
    # the 28×28 input the network read is painted and holds ink (dark: 1 is black, as in every map)
    ink = page.get_by_test_id("input-28").evaluate(
        "(c) => c.getContext('2d').getImageData(0, 0, 28, 28).data.filter((v, k) => k % 4 === 0 && v < 128).length")
    assert 20 < ink < 400


def test_undo_takes_the_last_stroke_away(page: Page) -> None:
    draw_digit(page, 1)
    wait_for_stroke_forward(page)
    assert prediction(page) == 1
    draw_stroke(page, TOP_BAR)
    wait_for_stroke_forward(page)
    assert prediction(page) == 7

    page.get_by_test_id("undo").click()
    expect(page.get_by_test_id("prediction")).to_have_attribute("data-value", "1")
    # the last stroke is gone from the pad: the top left, where the bar was, is white again
    top_left = page.get_by_test_id("draw-canvas").evaluate(
        "(c) => Math.min(...c.getContext('2d').getImageData(72, 40, 50, 12).data)")
    assert top_left == 255

    page.get_by_test_id("undo").click()  # the pad is blank: nothing to read, and the page says so
    expect(page.get_by_test_id("prediction")).to_have_attribute("data-value", "")
    expect(page.locator(".confidence")).to_have_text("Draw a digit to see what the network thinks.")
    expect(page.get_by_test_id("undo")).to_be_disabled()
    expect(page.get_by_test_id("error")).to_have_text("")


def test_ctrl_z_undoes_like_the_button(page: Page) -> None:
    draw_digit(page, 1)
    draw_stroke(page, TOP_BAR)
    wait_for_stroke_forward(page)
    assert prediction(page) == 7
    page.keyboard.press("Control+z")
    expect(page.get_by_test_id("prediction")).to_have_attribute("data-value", "1")


def test_clear_empties_the_pad_and_asks_for_a_drawing(page: Page) -> None:
    responses: list[int] = []
    page.on("response", lambda r: responses.append(r.status))
    draw_digit(page, 3)
    wait_for_stroke_forward(page)
    page.get_by_test_id("target").select_option("5")
    page.get_by_test_id("clear").click()

    expect(page.get_by_test_id("prediction")).to_have_attribute("data-value", "")
    # the bars and the target go with the drawing
    page.wait_for_function("() => document.querySelector('[data-testid=probabilities] .js-plotly-plot')"
                           ".data[0].y.every((v) => v === 0)")
    assert page.get_by_test_id("target").input_value() != "5"
    expect(page.locator(".pad-cta")).to_be_visible()
    expect(page.locator(".pad-cta")).to_contain_text("Draw a digit here")
    expect(page.get_by_test_id("progress")).to_have_text("Draw a digit first.")
    expect(page.get_by_test_id("layer-0")).to_contain_text("Draw a digit to see this layer’s output.")
    expect(page.get_by_test_id("loss")).to_have_text("–")
    expect(page.get_by_test_id("error")).to_have_text("")
    for testid in ("forward", "backward-step", "backward-run", "apply-update", "undo"):
        expect(page.get_by_test_id(testid)).to_be_disabled()
    blank = page.get_by_test_id("draw-canvas").evaluate(
        "(c) => c.getContext('2d').getImageData(0, 0, 280, 280).data.every((v) => v === 255)")
    assert blank
    page.wait_for_timeout(300)  # a forward still on its way would answer now
    assert all(status < 400 for status in responses), responses
    expect(page.get_by_test_id("prediction")).to_have_attribute("data-value", "")

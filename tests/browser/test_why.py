"""Why this prediction? in Chromium: a saliency, Grad-CAM or occlusion map appears over the input for the predicted
class or a chosen one, with its sentence, and follows a new drawing; off, it asks nothing. And an uploaded picture's
doubts (ink touching the edge) are said beside the input."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from playwright.sync_api import Page, expect

from tests.browser.helpers import draw_digit


def test_each_map_appears_over_the_input_for_the_class_asked(page: Page) -> None:
    overlay = page.get_by_test_id("why-overlay")
    expect(overlay).to_be_hidden()
    predicted = page.get_by_test_id("prediction").get_attribute("data-value")
    method = page.get_by_test_id("why-method")
    with page.expect_response("**/api/explain") as answer:
        method.select_option("saliency")
    assert answer.value.status == 200
    expect(overlay).to_be_visible()
    expect(overlay).to_have_attribute("data-method", "saliency")
    expect(overlay).to_have_attribute("data-target", predicted or "")
    expect(page.get_by_test_id("why-meaning")).to_contain_text("most sensitive to")
    box, under = overlay.bounding_box(), page.get_by_test_id("input-28").bounding_box()
    assert box and under and abs(box["x"] - under["x"]) < 1 and abs(box["width"] - under["width"]) < 1
    painted = overlay.evaluate("(c) => c.getContext('2d').getImageData(0, 0, c.width, c.height).data"
                               ".filter((v, i) => i % 4 === 3 && v > 0).length")
    assert 0 < painted < 28 * 28  # some pixels matter more than others

    for value, words in (("grad_cam", "last convolution"), ("occlusion", "patch")):
        method.select_option(value)
        expect(overlay).to_have_attribute("data-method", value)
        expect(page.get_by_test_id("why-meaning")).to_contain_text(words)
    page.get_by_test_id("why-class").select_option("8")
    expect(overlay).to_have_attribute("data-target", "8")
    expect(page.get_by_test_id("why-meaning")).to_contain_text("8")

    page.get_by_test_id("why-class").select_option("")  # the predicted class again, on a new drawing
    page.get_by_test_id("clear").click()
    with page.expect_response("**/api/explain"):
        draw_digit(page, 1)
    expect(page.get_by_test_id("prediction")).to_have_attribute("data-value", "1")
    expect(overlay).to_have_attribute("data-target", "1")

    method.select_option("")
    expect(overlay).to_be_hidden()


def test_an_uploaded_picture_with_its_ink_at_the_edge_is_doubted_aloud(page: Page) -> None:
    pixels = np.full((120, 120), 255, np.uint8)
    pixels[:80, 55:68] = 0  # a stroke running off the top of the picture
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    doubts = page.get_by_test_id("input-warnings")
    expect(doubts).to_be_hidden()
    page.get_by_test_id("upload").set_input_files(
        files=[{"name": "cut.png", "mimeType": "image/png", "buffer": buf.getvalue()}])
    expect(doubts).to_be_visible()
    expect(doubts).to_contain_text("touches the edge of the picture")
    page.get_by_test_id("clear").click()
    draw_digit(page, 7)
    expect(doubts).to_be_hidden()  # a drawing is the page's own input: nothing to doubt

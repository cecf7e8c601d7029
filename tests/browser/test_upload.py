"""Images instead of drawings: a PNG through the upload button, a PNG dropped on the pad, and a text file, which the
page refuses in plain words."""

from __future__ import annotations

import base64

from playwright.sync_api import Page, expect

from tests.browser.conftest import ConsoleLog
from tests.browser.helpers import digit_png


def drop_file(page: Page, name: str, mime: str, data: bytes) -> None:
    """Drop a file on the drawing pad, as a drag from the desktop would: a drop event carrying a DataTransfer."""
    transfer = page.evaluate_handle(
        """([name, mime, b64]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], name, { type: mime }));
            return dt;
        }""", [name, mime, base64.b64encode(data).decode()])
    page.dispatch_event("[data-testid=draw-canvas]", "dragover", {"dataTransfer": transfer})
    page.dispatch_event("[data-testid=draw-canvas]", "drop", {"dataTransfer": transfer})


def test_an_uploaded_png_is_read(page: Page) -> None:
    with page.expect_response("**/api/forward") as response:
        page.get_by_test_id("upload").set_input_files(
            files=[{"name": "four.png", "mimeType": "image/png", "buffer": digit_png(4)}])
    assert response.value.status == 200
    expect(page.get_by_test_id("prediction")).to_have_attribute("data-value", "4")
    expect(page.get_by_test_id("error")).to_have_text("")
    # the image is shown on the pad, in place of the drawing
    expect(page.locator(".pad-cta")).to_be_hidden()


def test_a_png_dropped_on_the_pad_is_read(page: Page) -> None:
    with page.expect_response("**/api/forward") as response:
        drop_file(page, "two.png", "image/png", digit_png(2))
    assert response.value.status == 200
    expect(page.get_by_test_id("prediction")).to_have_attribute("data-value", "2")
    expect(page.get_by_test_id("error")).to_have_text("")


def test_a_text_file_is_refused_in_plain_words(page: Page, console: ConsoleLog) -> None:
    console.allow(r"status of 4\d\d")
    with page.expect_response("**/api/forward") as response:
        page.get_by_test_id("upload").set_input_files(
            files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"this is not a digit\n" * 20}])
    assert 400 <= response.value.status < 500
    error = page.get_by_test_id("error")
    expect(error).to_contain_text("not an image")
    text = error.text_content() or ""
    assert "{" not in text and "Traceback" not in text and "detail" not in text, text
    expect(error).to_be_visible()


def test_a_text_file_dropped_on_the_pad_is_refused(page: Page, console: ConsoleLog) -> None:
    console.allow(r"status of 4\d\d")
    with page.expect_response("**/api/forward") as response:
        drop_file(page, "notes.txt", "text/plain", b"hello")
    assert 400 <= response.value.status < 500
    expect(page.get_by_test_id("error")).to_contain_text("not an image")

"""Load a model: an .onnx chosen in the header's control is uploaded, its summary shown (layers, shapes, parameters,
what the import left out), and the page runs on it: the drawing goes to the server as an image, resized to the
model's 3×8×8 in colour, and every layer of the new network is drawn. A file that is no model gets plain words."""

from __future__ import annotations

import base64

import numpy as np
from onnx import helper
from playwright.sync_api import Page, expect

from tests.browser.conftest import ConsoleLog
from tests.cnn.onnx_graphs import model, weight


def colour_onnx() -> bytes:
    """Conv (3 → 2 channels) → Relu → Flatten → Gemm → Softmax on 3×8×8, three classes named in the metadata."""
    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("Conv", ["x", "W1", "b1"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("Flatten", ["r"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "W2", "b2"], ["z"], name="fc", transB=1),
        helper.make_node("Softmax", ["z"], ["y"], name="softmax", axis=1),
    ]
    inits = [weight("W1", rng, 2, 3, 3, 3), weight("b1", rng, 2), weight("W2", rng, 3, 128), weight("b2", rng, 3)]
    return model(nodes, inits, input_shape=(1, 3, 8, 8), metadata={"labels": "red, green, blue"}).SerializeToString()


def test_an_onnx_model_loads_shows_its_summary_and_the_page_runs_on_it(page: Page) -> None:
    with page.expect_response("**/api/forward") as forward:
        with page.expect_response("**/api/model") as uploaded:
            page.get_by_test_id("model-file").set_input_files(
                files=[{"name": "colour.onnx", "mimeType": "application/octet-stream", "buffer": colour_onnx()}])
    assert uploaded.value.status == 200
    summary = page.get_by_test_id("model-load-summary")
    expect(summary).to_contain_text("colour.onnx (onnx)")
    expect(summary).to_contain_text("input 3×8×8")
    expect(summary).to_contain_text("red, green, blue")
    layers = page.get_by_test_id("model-load-layers")
    expect(layers.locator("tbody tr")).to_have_count(4)
    expect(layers.locator("tbody tr").first).to_contain_text("conv1")
    expect(layers.locator("tbody tr").first).to_contain_text("2×8×8")
    expect(layers.locator("tbody tr").first).to_contain_text("56")  # 2·3·3·3 + 2
    expect(page.get_by_test_id("model-load-notes")).to_contain_text("Softmax 'softmax': left out")
    expect(page.locator("#model-summary")).to_contain_text("Your model colour.onnx, reading 3×8×8")

    # The page then runs on it: the drawing went as an image, the server answered the 3×8×8 colour input.
    assert forward.value.status == 200
    answer = forward.value.json()
    assert answer["input"]["shape"] == [3, 8, 8] and len(answer["probabilities"]) == 3
    expect(page.get_by_test_id("layer-3")).to_be_visible()  # dense1, the fourth layer
    expect(page.get_by_test_id("layer-4")).to_have_count(0)
    expect(page.get_by_test_id("input-28")).to_have_attribute("width", "8")
    expect(page.get_by_test_id("error")).to_have_text("")
    expect(page.get_by_test_id("model-load-error")).to_have_text("")
    # Its classes are the file's: the prediction names one, the target offers the three.
    expect(page.get_by_test_id("prediction")).to_have_text(["red", "green", "blue"][answer["prediction"]])
    expect(page.get_by_test_id("target").locator("option")).to_have_text(["red", "green", "blue"])
    with page.expect_response("**/api/backward") as backward:
        page.get_by_test_id("backward-run").click()
    assert backward.value.status == 200
    expect(page.get_by_test_id("error")).to_have_text("")


def test_a_file_that_is_no_model_is_refused_in_plain_words(page: Page, console: ConsoleLog) -> None:
    console.allow(r"status of 400")
    with page.expect_response("**/api/model") as uploaded:
        page.get_by_test_id("model-file").set_input_files(
            files=[{"name": "notes.onnx", "mimeType": "application/octet-stream", "buffer": b"not a model"}])
    assert uploaded.value.status == 400
    expect(page.get_by_test_id("model-load-error")).to_contain_text("notes.onnx")
    expect(page.get_by_test_id("model-load-error")).to_contain_text("not")
    expect(page.locator("#model-summary")).to_contain_text("A convolutional network of 12 layers")


def test_reset_returns_the_page_to_the_served_model(page: Page) -> None:
    with page.expect_response("**/api/forward"):
        page.get_by_test_id("model-file").set_input_files(
            files=[{"name": "colour.onnx", "mimeType": "application/octet-stream", "buffer": colour_onnx()}])
    expect(page.locator("#model-summary")).to_contain_text("Your model colour.onnx")
    with page.expect_response("**/api/forward") as forward:
        page.get_by_test_id("reset").click()
    assert forward.value.status == 200
    assert len(forward.value.json()["probabilities"]) == 10
    expect(page.locator("#model-summary")).to_contain_text("A convolutional network of 12 layers")
    expect(page.get_by_test_id("model-load-summary")).to_contain_text("the served model")
    expect(page.get_by_test_id("layer-11")).to_be_visible()
    expect(page.get_by_test_id("input-28")).to_have_attribute("width", "28")
    expect(page.get_by_test_id("error")).to_have_text("")
    expect(page.get_by_test_id("target").locator("option")).to_have_count(10)


def test_labels_and_normalization_given_in_the_page_go_with_the_upload(page: Page) -> None:
    page.get_by_text("Labels and normalization").click()
    page.get_by_test_id("model-labels").fill("rouge, vert, bleu")
    page.get_by_test_id("model-mean").fill("0.5, 0.5, 0.5")
    page.get_by_test_id("model-std").fill("0.25, 0.25, 0.25")
    with page.expect_response("**/api/forward") as forward:
        page.get_by_test_id("model-file").set_input_files(
            files=[{"name": "colour.onnx", "mimeType": "application/octet-stream", "buffer": colour_onnx()}])
    assert forward.value.status == 200
    summary = page.get_by_test_id("model-load-summary")
    expect(summary).to_contain_text("rouge, vert, bleu")
    expect(summary).to_contain_text("mean 0.5, 0.5, 0.5, std 0.25, 0.25, 0.25")
    expect(page.get_by_test_id("target").locator("option")).to_have_text(["rouge", "vert", "bleu"])
    # The drawing (dark ink on white) resized and normalized by the server: (1 − 0.5) / 0.25 = 2 where paper shows.
    wire = forward.value.json()["input"]
    values = np.frombuffer(base64.b64decode(wire["data"]), dtype="<f4").reshape(wire["shape"])
    assert values.shape == (3, 8, 8) and values.max() == 2.0
    expect(page.get_by_test_id("input-28")).to_have_attribute("width", "8")


def test_a_reloaded_page_runs_the_model_its_tab_uploaded(page: Page) -> None:
    with page.expect_response("**/api/forward"):
        page.get_by_test_id("model-file").set_input_files(
            files=[{"name": "colour.onnx", "mimeType": "application/octet-stream", "buffer": colour_onnx()}])
    page.reload()
    expect(page.locator("#model-summary")).to_contain_text("Your model colour.onnx, reading 3×8×8")
    expect(page.get_by_test_id("input-28")).to_have_attribute("width", "8")
    expect(page.get_by_test_id("target").locator("option")).to_have_text(["red", "green", "blue"])
    expect(page.get_by_test_id("layer-4")).to_have_count(0)
    expect(page.get_by_test_id("error")).to_have_text("")

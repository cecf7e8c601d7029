"""The training lab in Chromium: the editor shows a bad stride's error at its layer before anything runs; a tiny run's
curve points arrive in the Plotly traces; the checkpoint scrubber changes the filters shown; the confusion matrix and
the misclassified browser work (a click opens that digit in the visualizer on the trained network); "Open in the
visualizer" and "Back to the pretrained model" switch the page's model summary and layer panels.

Runs are tiny (500 images, one epoch: a few seconds). The server reads MNIST from CNN_DATA_DIR (conftest)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import wait_for_prediction


@pytest.fixture(autouse=True)
def _mnist(mnist_dir: Path) -> Path:
    """The lab trains on MNIST: absent, these tests skip with the reason, and fail in CI (tests/conftest.py)."""
    return mnist_dir

ENDED = ("() => ['done', 'failed', 'stopped']"
         ".includes(document.querySelector('[data-testid=lab-status]')?.dataset.state)")


def open_lab(new_page: Callable[..., Page], server_url: str, width: int = 1280, height: int = 800) -> Page:
    """The page with its sample digit predicted, the lab opened, the tiny preset checked."""
    page = new_page(width=width, height=height)
    page.goto(server_url)
    wait_for_prediction(page)
    page.get_by_test_id("lab-open").click()
    expect(page.get_by_test_id("lab-open")).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_test_id("lab-summary")).to_contain_text("ready to train")
    return page


def set_setting(page: Page, name: str, value: str) -> None:
    field = page.get_by_test_id(f"lab-{name}")
    field.fill(value)
    field.dispatch_event("change")


def train_tiny(page: Page, batch_size: int = 32, train_size: int = 500) -> None:
    """Start a run on `train_size` images for one epoch and wait until it ends."""
    set_setting(page, "train_size", str(train_size))
    set_setting(page, "batch_size", str(batch_size))
    set_setting(page, "epochs", "1")
    page.get_by_test_id("lab-start").click()
    page.wait_for_function(ENDED, timeout=60_000)
    expect(page.get_by_test_id("lab-status")).to_contain_text("test accuracy")


def trace_points(page: Page, testid: str) -> list[int]:
    return list(page.evaluate("(id) => document.querySelector(`[data-testid=${id}]`).data.map((t) => t.x.length)",
                              testid))


def test_a_bad_stride_shows_its_error_at_the_layer(new_page: Callable[..., Page], server_url: str) -> None:
    page = open_lab(new_page, server_url)
    layer = page.get_by_test_id("lab-layer-0")
    expect(layer.get_by_test_id("lab-shape")).to_have_text("→ 4×24×24")
    expect(layer.get_by_test_id("lab-params")).to_have_text("104 params")
    stride = layer.get_by_label("Layer 0 Conv2D stride")
    stride.fill("3")
    error = layer.get_by_test_id("lab-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("stride 3 does not fit")
    expect(error).to_contain_text("(28 − 5 + 2·0)/3 + 1")
    expect(page.get_by_test_id("lab-start")).to_be_disabled()
    for i in range(1, 5):  # the other layers show no error of their own
        expect(page.get_by_test_id(f"lab-layer-{i}").get_by_test_id("lab-error")).to_be_hidden()
    stride.fill("1")
    expect(error).to_be_hidden()
    expect(page.get_by_test_id("lab-start")).to_be_enabled()


def test_layers_are_added_moved_and_removed_with_the_keyboard(new_page: Callable[..., Page], server_url: str) -> None:
    page = open_lab(new_page, server_url)
    expect(page.get_by_test_id("lab-layers").locator("> li")).to_have_count(5)
    page.get_by_label("Type of the layer to add").select_option("Dropout")
    page.get_by_test_id("lab-add").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("lab-layers").locator("> li")).to_have_count(6)
    # a Dropout after the 10 classes is allowed; moved above the Dense layer with the keyboard, focus stays on it
    up = page.get_by_label("Move layer 5 (Dropout) up")
    up.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("lab-layer-4").locator(".lab-type")).to_have_value("Dropout")
    expect(page.get_by_label("Move layer 4 (Dropout) up")).to_be_focused()
    expect(page.get_by_test_id("lab-layer-4").get_by_test_id("lab-shape")).to_have_text("→ 576")
    page.get_by_label("Remove layer 4 (Dropout)").click()
    expect(page.get_by_test_id("lab-layers").locator("> li")).to_have_count(5)
    expect(page.get_by_test_id("lab-summary")).to_contain_text("5,874 parameters")


def test_a_run_draws_its_curves_filters_scrubber_confusion_and_misclassified_digits(
        new_page: Callable[..., Page], server_url: str, tmp_path: Path) -> None:
    page = open_lab(new_page, server_url)
    assert trace_points(page, "lab-loss-curve") == [0, 0]
    # the training trace's length, seen every 20 ms while the run goes on
    page.evaluate("""() => {
      window.labSeen = [];
      const el = document.querySelector('[data-testid=lab-loss-curve]');
      setInterval(() => {
        const n = el.data[0].x.length;
        if (window.labSeen.at(-1) !== n) window.labSeen.push(n);
      }, 20);
    }""")
    # 250 steps: the points come over a second or more, while the stream looks for new ones every 0.1 s (a run of
    # 60 steps could end between two looks on a fast machine, and its points come all at once)
    train_tiny(page, batch_size=8, train_size=2000)
    loss, accuracy = trace_points(page, "lab-loss-curve"), trace_points(page, "lab-accuracy-curve")
    assert loss[0] >= 50 and loss[1] == 1, loss  # progress every 5 of the 250 steps; validation after the epoch
    assert accuracy == loss
    seen = page.evaluate("() => window.labSeen")
    assert seen == sorted(seen) and seen[0] == 0 and seen[-1] == loss[0] and len(seen) >= 3, seen  # in turn
    bar = page.get_by_test_id("lab-progress")
    expect(bar).to_have_attribute("value", bar.get_attribute("max") or "")

    # the filters at the end, then at the random start: other pictures
    filters = page.get_by_test_id("lab-filters")
    expect(filters.locator("canvas")).to_have_count(4)
    expect(filters).to_have_attribute("data-source", "live")
    end = filters.evaluate("(el) => [...el.querySelectorAll('canvas')].map((c) => c.toDataURL())")
    scrubber = page.get_by_test_id("lab-scrubber")
    expect(scrubber).to_be_enabled()
    scrubber.focus()
    page.keyboard.press("Home")
    expect(filters).to_have_attribute("data-source", "checkpoint-0")
    expect(filters).to_have_attribute("data-step", "0")
    start = filters.evaluate("(el) => [...el.querySelectorAll('canvas')].map((c) => c.toDataURL())")
    assert start != end
    expect(page.get_by_test_id("lab-filters-caption")).to_contain_text("checkpoint 0")
    page.get_by_test_id("lab-live").click()
    expect(filters).to_have_attribute("data-source", "live")

    # the confusion matrix sums to the test set; each thumbnail says true → predicted
    confusion = page.get_by_test_id("lab-confusion")
    total = confusion.evaluate("(el) => el.data[0].z.flat().reduce((a, b) => a + b, 0)")
    assert total == 10_000
    thumbs = page.get_by_test_id("lab-wrong-digit")
    expect(thumbs).to_have_count(24)
    expect(thumbs.first.locator("canvas")).to_have_count(1)
    first = thumbs.first
    label, predicted = (int(x) for x in (first.text_content() or "").split(" → "))
    assert label != predicted

    # a click opens it in the visualizer, on the trained network (tiny: 5 layers), predicted as the lab said
    first.click()
    expect(page.get_by_test_id("lab-used")).to_contain_text("network trained here")
    expect(page.locator("#model-summary")).to_contain_text("trained in the lab of 5 layers and 5,874 weights")
    expect(page.locator("[data-testid^=layer-][data-kind]")).to_have_count(5)
    expect(page.get_by_test_id("prediction")).to_have_attribute("data-value", str(predicted))
    page.screenshot(path=str(tmp_path / "lab-opened.png"))


def test_use_and_back_switch_the_visualizer(new_page: Callable[..., Page], server_url: str) -> None:
    page = open_lab(new_page, server_url)
    summary = page.locator("#model-summary")
    expect(summary).to_contain_text("12 layers and 61,706 weights")
    train_tiny(page)
    page.get_by_test_id("lab-use").click()
    expect(summary).to_contain_text("A network trained in the lab of 5 layers and 5,874 weights")
    expect(page.locator("[data-testid^=layer-][data-kind]")).to_have_count(5)
    expect(page.get_by_test_id("layer-0")).to_contain_text("→ 4×24×24")
    wait_for_prediction(page)
    # the backward pass walks the trained network to its input
    page.keyboard.press("r")
    expect(page.get_by_test_id("progress")).to_contain_text("5 of 5", timeout=15_000)
    expect(page.get_by_test_id("gradcheck-param").locator("option")).to_have_count(4)

    page.get_by_test_id("lab-back").click()
    expect(summary).to_contain_text("A convolutional network of 12 layers and 61,706 weights")
    expect(page.locator("[data-testid^=layer-][data-kind]")).to_have_count(12)
    expect(page.get_by_test_id("lab-back")).to_be_disabled()
    wait_for_prediction(page)


def test_the_lab_at_phone_size(new_page: Callable[..., Page], server_url: str, tmp_path: Path) -> None:
    page = open_lab(new_page, server_url, width=390, height=844)
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"
    row = page.get_by_test_id("lab-layer-0").bounding_box()
    assert row is not None and row["x"] >= 0 and row["x"] + row["width"] <= 390
    page.get_by_test_id("lab").screenshot(path=str(tmp_path / "lab-390.png"))


def test_a_reload_mid_run_takes_the_job_up_again(new_page: Callable[..., Page], server_url: str) -> None:
    """The tab remembers its job: after a reload the lab opens on it, replays its curves from the first point and
    follows it to the end (without this, the one job a session may have would block every new start)."""
    page = open_lab(new_page, server_url)
    set_setting(page, "train_size", "2000")
    set_setting(page, "epochs", "2")
    page.get_by_test_id("lab-start").click()
    page.wait_for_function("() => document.querySelector('[data-testid=lab-status]')?.dataset.state === 'running'")
    page.reload()
    expect(page.get_by_test_id("lab-open")).to_have_attribute("aria-expanded", "true")
    page.wait_for_function(ENDED, timeout=60_000)
    expect(page.get_by_test_id("lab-status")).to_contain_text("test accuracy")
    assert min(trace_points(page, "lab-loss-curve")) > 0
    expect(page.get_by_test_id("lab-layers").locator("> li")).to_have_count(5)  # the job's own network

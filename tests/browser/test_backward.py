"""Backpropagation, one layer at a time: the highlight walks from the loss (layer 11) to the input (layer 0), layers
not yet reached say so, every reached layer shows its maps, the keys move the highlight, Run to the end shows the
saliency map, and the loss shown is −ln p_target of the probabilities shown. The explanation panel gives the rule of
the current layer's type. What the walk asks of the server is counted in test_backward_requests.py."""

from __future__ import annotations

import math

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import blur, plot_traces, prediction, wait_for_plot

LAYERS = 12
KIND = ["Conv2D", "ReLU", "MaxPool2D", "Conv2D", "ReLU", "MaxPool2D", "Flatten", "Dense", "ReLU", "Dense", "ReLU",
        "Dense"]


def other_target(page: Page) -> int:
    """Choose a target other than the prediction (3, or 5 if the prediction is 3) and return it."""
    target = 5 if prediction(page) == 3 else 3
    page.get_by_test_id("target").select_option(str(target))
    blur(page)
    return target


def statuses(page: Page) -> list[str]:
    return [page.get_by_test_id(f"layer-{i}").get_attribute("data-backward") or "" for i in range(LAYERS)]


def expect_current(page: Page, index: int) -> None:
    expect(page.get_by_test_id(f"layer-{index}")).to_have_attribute("data-backward", "current")
    expect(page.get_by_test_id(f"layer-{index}-status")).to_have_text("current step")
    expect(page.locator(".layer.is-current")).to_have_count(1)


def test_backward_one_layer_walks_from_the_loss_to_the_input(page: Page) -> None:
    other_target(page)
    assert statuses(page) == ["pending"] * LAYERS
    step = page.get_by_test_id("backward-step")
    for index in reversed(range(LAYERS)):
        step.click()
        expect_current(page, index)
        got = statuses(page)
        assert got[:index] == ["pending"] * index, got
        assert got[index + 1:] == ["done"] * (LAYERS - 1 - index), got
        for below in range(index):
            expect(page.get_by_test_id(f"layer-{below}")).to_contain_text("Pending")
        panel = f"[data-testid=layer-{index}] .bwd"
        wait_for_plot(page, panel)  # its δ (or ∂E/∂out) map, painted with numbers
        delta = plot_traces(page.locator(panel))
        assert any(t["type"] in ("heatmap", "bar") for t in delta)
        expect(page.get_by_test_id("progress")).to_contain_text(f"{LAYERS - index} of {LAYERS} layers reached")
    expect(step).to_be_disabled()  # the error has reached the input: nothing further to step
    expect(page.get_by_test_id("backward-run")).to_be_disabled()


def test_every_reached_layer_shows_its_backward_maps(page: Page) -> None:
    other_target(page)
    page.get_by_test_id("backward-run").click()
    expect_current(page, 0)
    for index in range(LAYERS):
        panel = page.get_by_test_id(f"layer-{index}")
        panel.scroll_into_view_if_needed()
        expect(panel.locator(".pending-box")).to_be_hidden()
        figures = panel.locator(".bwd figure:visible")
        expected = 2 + (1 if KIND[index] == "Dense" else 0) + (2 if KIND[index] == "Conv2D" else 0)
        expect(figures).to_have_count(expected)  # δ, what passes down, ∂E/∂W, ∂E/∂b bars for a conv
        page.wait_for_function(
            """(i) => [...document.querySelectorAll(`[data-testid=layer-${i}] .bwd .js-plotly-plot`)]
                       .every((gd) => (gd.data || []).some((t) => (t.z || t.y || []).length))""",
            arg=index, timeout=10_000)


def test_keys_move_the_highlight(page: Page) -> None:
    other_target(page)
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    expect_current(page, 9)
    page.keyboard.press("ArrowLeft")
    expect_current(page, 10)
    assert page.get_by_test_id("layer-9").get_attribute("data-backward") == "done"  # reached, not current
    page.keyboard.press("ArrowLeft")
    expect_current(page, 11)
    page.keyboard.press("ArrowLeft")  # at the loss already: stays
    expect_current(page, 11)
    page.keyboard.press("ArrowRight")
    expect_current(page, 10)
    page.keyboard.press("ArrowRight")  # review forward again, up to the furthest layer reached
    expect_current(page, 9)
    page.keyboard.press("ArrowRight")  # one more: reveals the next layer of the pass
    expect_current(page, 8)
    assert statuses(page)[:8] == ["pending"] * 8


def test_run_to_the_end_shows_the_saliency_map(page: Page) -> None:
    other_target(page)
    page.get_by_test_id("backward-run").click()
    expect_current(page, 0)
    assert statuses(page) == ["current"] + ["done"] * (LAYERS - 1)
    saliency = page.get_by_test_id("layer-0").locator("figure", has_text="the saliency map")
    saliency.scroll_into_view_if_needed()
    expect(saliency).to_be_visible()
    saliency_plot = saliency.locator(".js-plotly-plot")
    page.wait_for_function("(gd) => (gd.data || []).length > 0", arg=saliency_plot.element_handle(), timeout=10_000)
    z = [v for row in plot_traces(saliency)[-1]["z"] for v in row if v is not None]
    assert len(z) == 28 * 28
    assert max(abs(v) for v in z) > 0  # the input pixels do move the loss
    expect(page.get_by_test_id("progress")).to_contain_text("the error has reached the input")


@pytest.mark.parametrize("walk", ["before", "after"])
def test_the_loss_is_minus_log_p_target(page: Page, walk: str) -> None:
    target = other_target(page)
    if walk == "after":
        page.get_by_test_id("backward-run").click()
        expect_current(page, 0)
    wait_for_plot(page, "[data-testid=probabilities]")
    probabilities = plot_traces(page.get_by_test_id("probabilities"))[0]["y"]
    assert abs(sum(probabilities) - 1) < 1e-6
    loss = page.get_by_test_id("loss")
    text = (loss.text_content() or "").replace("\u2212", "-")
    assert text.startswith(f"-ln p{'₀₁₂₃₄₅₆₇₈₉'[target]} = "), text
    shown = float(text.split("=")[1])
    expected = -math.log(probabilities[target])
    assert shown == pytest.approx(expected, rel=1e-5), (shown, expected)  # shown to 6 significant digits
    assert float(loss.get_attribute("data-value") or "nan") == pytest.approx(expected, rel=1e-9)


# The rule the explanation panel states for each kind of layer, at the first layer of that kind reached from the loss.
RULES = [
    (11, ["pₖ − yₖ", "softmax", "cross-entropy"]),
    (10, ["f′(net)", "∂E/∂out"]),
    (9, ["Wᵀδ", "δ·xᵀ"]),
    (6, ["reshape"]),
    (5, ["max of its window", "that one input cell"]),
    (3, ["rot180(W)", "full convolution", "x ⋆ δ"]),
]


def test_the_explanation_gives_the_rule_of_the_current_layer(page: Page) -> None:
    target = other_target(page)
    explain = page.get_by_test_id("explain")
    expect(explain).to_contain_text("Press Backward one layer")
    rules = dict(RULES)
    step = page.get_by_test_id("backward-step")
    for index in reversed(range(3, LAYERS)):
        step.click()
        expect_current(page, index)
        expect(explain.locator(".explain-head")).to_contain_text(f"Layer {index}:")
        for words in rules.get(index, []):
            expect(explain.get_by_test_id("explain-formula")).to_contain_text(words)
        # the method named in words to look up, never the project's sources ("seed 000: bp_sensitivity_map")
        assert all(t.startswith("look up:") for t in explain.locator(".source").all_inner_texts())
        assert "seed" not in explain.inner_text().lower()
        if index == 11:  # δ of the target class: p − 1, with the p shown
            p = float(explain.get_by_test_id("explain-p").get_attribute("data-value") or "nan")
            y = float(explain.get_by_test_id("explain-y").get_attribute("data-value") or "nan")
            d = float(explain.get_by_test_id("explain-delta").get_attribute("data-value") or "nan")
            assert y == 1 and d == pytest.approx(p - 1, abs=1e-7), (target, p, y, d)
        if index == 10:  # a ReLU: ∂E/∂out · f′(net)
            dout = float(explain.get_by_test_id("explain-dout").get_attribute("data-value") or "nan")
            fp = float(explain.get_by_test_id("explain-fprime").get_attribute("data-value") or "nan")
            d = float(explain.get_by_test_id("explain-delta").get_attribute("data-value") or "nan")
            assert d == pytest.approx(dout * fp, abs=1e-12)

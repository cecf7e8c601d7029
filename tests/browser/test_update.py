"""One step of gradient descent from the page: the weight changes are drawn for every layer with weights, the target's
probability goes up, repeated steps make the loss curve fall, and Reset brings the pretrained network back."""

from __future__ import annotations

import math

import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import blur, plot_traces, prediction, wait_for_plot

TARGET = 3
LAYERS_WITH_WEIGHTS = ["conv1", "conv2", "dense1", "dense2", "dense3"]


def probabilities(page: Page) -> list[float]:
    wait_for_plot(page, "[data-testid=probabilities]")
    y = plot_traces(page.get_by_test_id("probabilities"))[0]["y"]
    assert y is not None
    return [float(v) for v in y]


def apply(page: Page, step: int) -> None:
    page.get_by_test_id("apply-update").click()
    expect(page.get_by_test_id("update-summary")).to_contain_text(f"Step {step} ", timeout=20_000)
    expect(page.get_by_test_id("apply-update")).to_have_text("Apply update")
    expect(page.get_by_test_id("apply-update")).to_be_enabled()


def test_an_update_shows_its_changes_and_raises_the_target(page: Page) -> None:
    page.get_by_test_id("target").select_option(str(TARGET))
    blur(page)
    page.get_by_test_id("lr").fill("0.001")
    apply(page, 1)
    expect(page.get_by_test_id("update-error")).to_have_text("")

    boxes = page.locator(".update-layer")
    expect(boxes).to_have_count(len(LAYERS_WITH_WEIGHTS))
    for name, box in zip(LAYERS_WITH_WEIGHTS, boxes.all(), strict=True):
        expect(box.locator(".mini-title")).to_contain_text(name)
        box.scroll_into_view_if_needed()
        titles = box.locator("figcaption").all_text_contents()
        assert titles[:3] == ["W before", "ΔW = −lr·∂E/∂W", "W after = W + ΔW"], titles
        assert titles[3] == "Δb"
        plots = box.locator(".js-plotly-plot")
        expect(plots).to_have_count(4)
        page.wait_for_function(
            "(box) => [...box.querySelectorAll('.js-plotly-plot')].every((gd) => (gd.data || []).length > 0)",
            arg=box.element_handle(), timeout=10_000)
        delta = plot_traces(box.locator("figure").nth(1))[-1]["z"]
        assert any(v for row in delta for v in row if v is not None), f"{name}: ΔW is all zeros"

    probs = page.get_by_test_id("update-probs")
    probs.scroll_into_view_if_needed()
    wait_for_plot(page, "[data-testid=update-probs]")
    before, after = plot_traces(probs)
    assert (before["name"], after["name"]) == ("before", "after")
    assert after["y"][TARGET] > before["y"][TARGET]
    loss_after = float(page.get_by_test_id("loss-after").get_attribute("data-value") or "nan")
    summary = page.get_by_test_id("update-summary").text_content() or ""
    assert "loss" in summary and "→" in summary
    assert loss_after < -math.log(before["y"][TARGET])
    # the probabilities at the top are the new network's
    assert probabilities(page)[TARGET] == pytest.approx(after["y"][TARGET], rel=1e-9)


def test_repeated_steps_make_the_loss_fall_and_reset_undoes_them(page: Page) -> None:
    pretrained, predicted = probabilities(page), prediction(page)
    page.get_by_test_id("target").select_option(str(TARGET))
    blur(page)
    page.get_by_test_id("lr").fill("0.002")
    for step in range(1, 5):
        apply(page, step)
    curve = page.get_by_test_id("loss-history")
    curve.scroll_into_view_if_needed()
    page.wait_for_function("(gd) => (gd.data || []).length && gd.data[0].y.length === 5",
                           arg=curve.element_handle(), timeout=10_000)
    losses = curve.evaluate("(gd) => Array.from(gd.data[0].y)")
    assert len(losses) == 5  # before the first step, then after each of the four
    assert all(b < a for a, b in zip(losses, losses[1:], strict=False)), losses
    assert probabilities(page) != pytest.approx(pretrained, abs=1e-6)
    assert curve.evaluate("(gd) => gd.layout.yaxis.type") != "log"
    page.get_by_test_id("loss-log").check()  # the same points on a log scale
    page.wait_for_function("(gd) => gd.layout.yaxis.type === 'log'", arg=curve.element_handle())
    assert curve.evaluate("(gd) => Array.from(gd.data[0].y)") == losses

    page.get_by_test_id("reset").click()
    expect(page.get_by_test_id("update-summary")).to_contain_text("pretrained")
    expect(page.locator(".update-charts")).to_be_hidden()
    expect(page.get_by_test_id("prediction")).to_have_attribute("data-value", str(predicted))
    page.wait_for_function(
        """(p) => { const gd = document.querySelector('[data-testid=probabilities] .js-plotly-plot');
                    return gd.data[0].y.every((v, k) => Math.abs(v - p[k]) < 1e-9); }""",
        arg=pretrained, timeout=10_000)
    assert probabilities(page) == pytest.approx(pretrained, abs=1e-9)


def test_a_badge_beside_the_prediction_counts_the_steps_and_resets(page: Page) -> None:
    badge = page.get_by_test_id("weights-badge")
    expect(badge).to_be_hidden()
    page.get_by_test_id("target").select_option(str(TARGET))
    blur(page)
    for step in (1, 2):
        apply(page, step)
    expect(badge).to_be_visible()
    expect(badge).to_contain_text("Weights changed by 2 steps")
    page.get_by_test_id("badge-reset").click()
    expect(page.get_by_test_id("update-summary")).to_contain_text("pretrained")
    expect(badge).to_be_hidden()

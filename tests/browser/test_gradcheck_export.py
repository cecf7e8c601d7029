"""Verify gradient (backward against centred finite differences) and the .npz export, from the page."""

from __future__ import annotations

import io

import numpy as np
import pytest
from playwright.sync_api import Page, expect

from tests.browser.helpers import blur


def verify(page: Page, param: str) -> str:
    """Run Verify gradient for `param` and return the verdict line."""
    page.get_by_test_id("gradcheck-param").select_option(param)
    button = page.get_by_test_id("gradcheck")
    button.scroll_into_view_if_needed()
    button.click()
    table = page.get_by_test_id("gradcheck-table")
    expect(table).to_be_visible(timeout=20_000)
    expect(button).to_be_enabled(timeout=20_000)
    headers = table.locator("th").all_text_contents()
    assert headers == ["index", "analytic ∂E/∂w", "numerical", "|difference|", "relative"], headers
    expect(table.locator("tbody tr")).to_have_count(int(page.get_by_test_id("gradcheck-samples").input_value()))
    status = page.locator(".gc-status")
    expect(status).to_contain_text(f"of {param}")
    return status.text_content() or ""


@pytest.mark.parametrize("param", ["conv1.W", "dense3.b"])
def test_backward_is_right_for_a_wrong_target(page: Page, param: str) -> None:
    page.get_by_test_id("target").select_option("3")
    blur(page)
    verdict = verify(page, param)
    assert "✓ backward is right" in verdict, verdict
    value = float(page.get_by_test_id("gradcheck-verdict").get_attribute("data-value") or "nan")
    assert value < 1e-7
    # the verdict names the clause of the rule it met, and the rule is stated beside it
    assert "(below 10⁻⁷)" in verdict, verdict
    expect(page.get_by_test_id("gradcheck-rule")).to_contain_text("Rule: backward is right when the relative error is "
                                                                  "below 10⁻⁷")
    # each row's analytic and numerical columns agree to the digits shown
    rows = page.get_by_test_id("gradcheck-table").locator("tbody tr")
    for row in rows.all():
        analytic, numerical = (float(v) for v in row.locator("td .num").evaluate_all(
            "(els) => els.slice(0, 2).map((e) => e.dataset.value)"))
        assert analytic == pytest.approx(numerical, rel=1e-5, abs=1e-9)


def verify_all_of_dense3_b(page: Page) -> str:
    """Verify dense3.b at the page's own target, the confident prediction: E ≈ 0, so its gradients are small
    (≤ 1e-4) while the finite differences resolve about 2e-10. All ten biases are sampled: no luck of the draw."""
    page.get_by_test_id("gradcheck-samples").fill("10")
    return verify(page, "dense3.b")


def test_no_disagreement_is_reported_when_the_loss_is_near_zero(page: Page) -> None:
    verdict = verify_all_of_dense3_b(page)
    assert "disagree" not in verdict and "✗" not in verdict, verdict


# With the loss near 0 every difference is within the finite differences' resolution and the relative error (~5e-7)
# is limited by it: the verdict must not read "(close)" as if the backward pass were in doubt.
def test_differences_within_the_resolution_are_not_called_close(page: Page) -> None:
    verdict = verify_all_of_dense3_b(page)
    rows = page.get_by_test_id("gradcheck-table").locator("tbody tr")
    expect(rows.filter(has_text="≈ noise")).to_have_count(10)
    assert "✓ backward is right" in verdict or "cannot judge" in verdict, verdict


def test_the_export_is_an_npz_of_the_tensors(page: Page) -> None:
    page.get_by_test_id("target").select_option("3")
    blur(page)
    page.get_by_test_id("backward-run").click()
    expect(page.get_by_test_id("layer-0")).to_have_attribute("data-backward", "current")
    with page.expect_download() as info:
        page.get_by_test_id("export").click()
    download = info.value
    assert download.suggested_filename.endswith(".npz")
    data = open(download.path(), "rb").read()
    shapes = {"conv1.W": (6, 1, 5, 5), "conv1.b": (6,), "conv2.W": (16, 6, 5, 5), "conv2.b": (16,),
              "dense1.W": (120, 400), "dense1.b": (120,), "dense2.W": (84, 120), "dense2.b": (84,),
              "dense3.W": (10, 84), "dense3.b": (10,)}
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        for param, shape in shapes.items():
            assert npz[f"param/{param}"].shape == shape, param
        x = npz["input"]
        assert x.shape == (28, 28) and x.dtype == np.float64
        # this tab's input: the 28×28 image the page shows, to its 8-bit rounding
        shown = np.array(page.get_by_test_id("input-28").evaluate(
            "(c) => Array.from(c.getContext('2d').getImageData(0, 0, 28, 28).data.filter((_, k) => k % 4 === 0))"))
        np.testing.assert_allclose(x.ravel(), 1 - shown / 255, atol=0.51 / 255)  # 1 is black
        # and the backward pass for the target chosen: the loss's δ is p − y with y one-hot at 3
        delta = npz["11_dense3/delta"]
        assert delta.shape == (10,) and delta[3] < -0.9 and abs(delta.sum()) < 1e-9


def test_a_plot_downloads_as_a_png_with_room_for_its_whole_title(page: Page) -> None:
    """The camera button saves a PNG of the plot at twice its size, with room above it for its heading (wrapped onto
    as many lines as it takes by lib/format.js's wrapTitle, whose node test checks the wrapping)."""
    from PIL import Image

    plot = page.locator("[data-testid=probabilities] .js-plotly-plot")
    plot.hover()
    with page.expect_download() as download:
        page.locator("[data-testid=probabilities] [data-title='Download this plot as PNG']").click()
    path = download.value.path()
    assert download.value.suggested_filename == "probabilities.png"
    with Image.open(path) as png:
        width, height = png.size
    box = plot.bounding_box()
    assert box is not None
    assert abs(width - 2 * (box["width"] + 90)) <= 2  # scale 2
    assert height >= 2 * (box["height"] + 22 + 18) - 2  # at least one title line's room

"""The neuron inspector, checked by arithmetic on the numbers it shows: Σ products + bias = net, net = the value the
layer's map shows for that cell, and after a backward pass δ = ∂E/∂out × f′(net) = the δ the map shows."""

from __future__ import annotations

import math

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.helpers import blur, click_heatmap_cell, number, plot_traces, rounding

CONV1, CONV2 = 0, 3


def mosaic_cell(n: int, H: int, W: int, m: int, r: int, c: int) -> tuple[int, int]:
    """Where (map m, row r, col c) of n maps H×W sits in the page's mosaic: row-major tiles, ⌈√n⌉ across, 1-cell
    gaps (static/js/lib/mosaic.js)."""
    cols = math.ceil(math.sqrt(n))
    gap = 0 if n == 1 else 1
    return (m // cols) * (H + gap) + r, (m % cols) * (W + gap) + c


def map_values(page: Page, figure: Locator, shape: tuple[int, int, int]) -> dict[tuple[int, int, int], float]:
    """The values a mosaic heatmap shows, by tensor index (m, r, c)."""
    figure.scroll_into_view_if_needed()
    page.wait_for_function("(fig) => (fig.querySelector('.js-plotly-plot')?.data || []).length > 0",
                           arg=figure.element_handle(), timeout=10_000)
    z = plot_traces(figure)[-1]["z"]
    n, H, W = shape
    out = {}
    for m in range(n):
        for r in range(H):
            for c in range(W):
                y, x = mosaic_cell(n, H, W, m, r, c)
                out[(m, r, c)] = z[y][x]
    return out


def output_figure(page: Page, layer: int) -> Locator:
    return page.get_by_test_id(f"layer-{layer}").locator(".fwd figure").first


def delta_figure(page: Page, layer: int) -> Locator:
    return page.get_by_test_id(f"layer-{layer}").locator(".bwd figure").first


def close(a: float, b: float, slack: float) -> bool:
    return abs(a - b) <= slack + 1e-12


def check_forward_sum(page: Page, layer_name: str, idx: tuple[int, int, int], shown: float) -> None:
    """The inspector shows neuron idx of layer_name and its sum adds up, to the digits it displays, to `shown`."""
    inspector = page.get_by_test_id("inspector")
    f, i, j = idx
    expect(inspector.locator(".explain-head")).to_contain_text(f"{layer_name}, filter {f}, output ({i}, {j})")
    s, b = number(inspector.get_by_test_id("inspector-sum")), number(inspector.get_by_test_id("inspector-bias"))
    net, out = number(inspector.get_by_test_id("inspector-net")), number(inspector.get_by_test_id("inspector-output"))
    assert close(s + b, net, rounding(s) + rounding(b) + rounding(net)), (s, b, net)
    assert close(net, out, rounding(net) + rounding(out)), (net, out)
    assert close(net, shown, rounding(net) + 1e-6 * abs(shown)), (net, shown)  # the map holds float32 values
    assert abs(net) > 1e-3  # a neuron whose sum is worth checking, not the padding
    expect(inspector).to_contain_text("✓")


def test_clicking_a_conv1_cell_opens_its_sum(page: Page) -> None:
    shape = (6, 28, 28)
    values = map_values(page, output_figure(page, CONV1), shape)
    # the strongest response of map 1, which is not the cell the inspector opens with (the argmax over all maps)
    idx = max((k for k in values if k[0] == 1), key=lambda k: abs(values[k]))
    click_heatmap_cell(page, output_figure(page, CONV1), *mosaic_cell(*shape, *idx))
    check_forward_sum(page, "conv1", idx, values[idx])
    inspector = page.get_by_test_id("inspector")
    # one input channel: the 5×5 products are all the terms of the sum
    products = inspector.get_by_test_id("inspector-products").locator("td").evaluate_all(
        "(tds) => tds.map((td) => Number(td.dataset.value))")
    assert len(products) == 25
    exact = float(inspector.get_by_test_id("inspector-sum").get_attribute("data-value") or "nan")
    assert sum(products) == pytest.approx(exact, abs=1e-9)
    # the number fields follow the click
    expect(inspector.get_by_test_id("inspector-f")).to_have_value(str(idx[0]))


def test_the_number_fields_open_a_conv2_neuron(page: Page) -> None:
    shape = (16, 10, 10)
    values = map_values(page, output_figure(page, CONV2), shape)
    idx = max((k for k in values if k[0] == 5), key=lambda k: abs(values[k]))
    inspector = page.get_by_test_id("inspector")
    inspector.get_by_test_id("inspector-layer").select_option(str(CONV2))
    for testid, value in zip(("inspector-f", "inspector-i", "inspector-j"), idx, strict=True):
        inspector.get_by_test_id(testid).fill(str(value))
        inspector.get_by_test_id(testid).dispatch_event("change")
    check_forward_sum(page, "conv2", idx, values[idx])
    # six input channels: the sum is the sum of the per-channel sums shown
    partials = inspector.locator(".partials .num").evaluate_all("(els) => els.map((e) => Number(e.dataset.value))")
    assert len(partials) == 6
    exact = float(inspector.get_by_test_id("inspector-sum").get_attribute("data-value") or "nan")
    assert sum(partials) == pytest.approx(exact, abs=1e-9)


def check_delta(page: Page, idx: tuple[int, int, int], shown: float) -> None:
    inspector = page.get_by_test_id("inspector")
    dout, fp = number(inspector.get_by_test_id("inspector-dout")), number(inspector.get_by_test_id("inspector-fprime"))
    delta, delta_shown = (number(inspector.get_by_test_id("inspector-delta")),
                          number(inspector.get_by_test_id("inspector-delta-shown")))
    assert fp in (0, 1)
    assert close(dout * fp, delta, rounding(dout) + rounding(delta)), (dout, fp, delta)
    assert close(delta, delta_shown, rounding(delta) + rounding(delta_shown)), (delta, delta_shown)
    assert close(delta, shown, rounding(delta) + 1e-6 * abs(shown)), (delta, shown)
    assert delta != 0 and fp == 1
    expect(inspector).to_contain_text("so it gets that window’s error")  # the max of its pooling window


@pytest.mark.parametrize(("layer", "name", "shape"), [(CONV1, "conv1", (6, 28, 28)), (CONV2, "conv2", (16, 10, 10))])
def test_after_backward_the_delta_terms_multiply_to_the_delta_shown(
        page: Page, layer: int, name: str, shape: tuple[int, int, int]) -> None:
    page.get_by_test_id("target").select_option("3")
    blur(page)
    page.get_by_test_id("backward-run").click()
    expect(page.get_by_test_id("layer-0")).to_have_attribute("data-backward", "current")
    deltas = map_values(page, delta_figure(page, layer), shape)
    idx = max(deltas, key=lambda k: abs(deltas[k]))
    click_heatmap_cell(page, delta_figure(page, layer), *mosaic_cell(*shape, *idx))
    expect(page.get_by_test_id("inspector").locator(".explain-head")).to_contain_text(
        f"{name}, filter {idx[0]}, output ({idx[1]}, {idx[2]})")
    check_delta(page, idx, deltas[idx])

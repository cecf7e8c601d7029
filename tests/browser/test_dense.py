"""Dense layers made readable: a unit of dense1 picked, its 400 incoming weights are shown as the 16 maps of 5×5 of
pool2 they connect to, equal to that row of W as the server holds it; the weight matrix zooms at whole cells, by drag
with a mouse and by buttons on a touch screen."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from playwright.sync_api import Page, expect

from tests.browser.conftest import wait_for_prediction
from tests.browser.helpers import plot_traces, server_params, wait_for_plot

DENSE1 = 7


def tiles(z: list[list[float | None]], n: int, size: int, cols: int, gap: int = 1) -> np.ndarray:
    """The n maps of size×size of a mosaic (row-major, `cols` to a row, `gap` cells between them) as (n, size, size)."""
    z_arr = np.array([[np.nan if v is None else v for v in row] for row in z], dtype=np.float64)
    out = np.empty((n, size, size))
    for m in range(n):
        oy, ox = (m // cols) * (size + gap), (m % cols) * (size + gap)
        out[m] = z_arr[oy:oy + size, ox:ox + size]
    return out


def open_weights(page: Page) -> None:
    page.get_by_test_id(f"weights-{DENSE1}").click()
    expect(page.get_by_test_id(f"weights-{DENSE1}")).to_have_attribute("aria-expanded", "true")


def test_a_unit_of_dense1_shows_its_weights_as_the_16_maps_it_reads(page: Page) -> None:
    open_weights(page)
    W = server_params(page, "dense1")["W"]
    assert W.shape == (120, 400)
    figure = page.get_by_test_id(f"unit-weights-{DENSE1}")
    for unit in (0, 37, 119):
        page.get_by_test_id(f"unit-{DENSE1}").fill(str(unit))
        page.get_by_test_id(f"unit-{DENSE1}").press("Enter")
        page.get_by_test_id(f"unit-{DENSE1}").dispatch_event("change")
        expect(figure).to_contain_text(f"Unit {unit}: its 400 incoming weights as the 16 maps of 5×5 of pool2")
        figure.scroll_into_view_if_needed()
        wait_for_plot(page, f"[data-testid=unit-weights-{DENSE1}]")
        page.wait_for_function(
            """([sel, v]) => { const gd = document.querySelector(sel).querySelector('.js-plotly-plot');
                              return gd.data && gd.data.at(-1).z[0][0] === v; }""",
            arg=[f"[data-testid=unit-weights-{DENSE1}]", float(W[unit, 0])])
        z = plot_traces(figure)[-1]["z"]
        assert len(z) == 23 and len(z[0]) == 23  # 4×4 maps of 5×5, one cell between them
        np.testing.assert_array_equal(tiles(z, 16, 5, cols=4), W[unit].reshape(16, 5, 5))


def test_clicking_a_row_of_W_picks_its_unit(page: Page) -> None:
    open_weights(page)
    W = server_params(page, "dense1")["W"]
    matrix = page.get_by_test_id(f"layer-{DENSE1}").locator(".unit-weights figure.hm").first
    wait_for_plot(page, f"[data-testid=layer-{DENSE1}] .unit-weights")
    matrix.scroll_into_view_if_needed()
    point = matrix.locator(".js-plotly-plot").evaluate(
        """(gd) => { const L = gd._fullLayout, r = gd.getBoundingClientRect();
               return [r.left + L.xaxis._offset + L.xaxis.d2p(200), r.top + L.yaxis._offset + L.yaxis.d2p(60)]; }""")
    page.mouse.click(point[0], point[1])
    unit = int(page.get_by_test_id(f"unit-{DENSE1}").input_value())
    assert 55 <= unit <= 65  # a cell is under 2 px high: the row under the pointer, give or take
    figure = page.get_by_test_id(f"unit-weights-{DENSE1}")
    expect(figure).to_contain_text(f"Unit {unit}:")
    page.wait_for_function(
        """([sel, v]) => { const gd = document.querySelector(sel).querySelector('.js-plotly-plot');
                          return gd.data && gd.data.at(-1).z[0][0] === v; }""",
        arg=[f"[data-testid=unit-weights-{DENSE1}]", float(W[unit, 0])])


def test_the_weight_matrix_zooms_to_whole_cells(page: Page) -> None:
    open_weights(page)
    matrix = page.get_by_test_id(f"layer-{DENSE1}").locator(".unit-weights figure.hm").first
    wait_for_plot(page, f"[data-testid=layer-{DENSE1}] .unit-weights")
    matrix.scroll_into_view_if_needed()
    gd = matrix.locator(".js-plotly-plot")
    corners = gd.evaluate(
        """(gd) => { const L = gd._fullLayout, r = gd.getBoundingClientRect();
               const at = (x, y) => [r.left + L.xaxis._offset + L.xaxis.d2p(x),
                                     r.top + L.yaxis._offset + L.yaxis.d2p(y)];
               return [at(100.3, 20.2), at(141.7, 49.6)]; }""")
    (x0, y0), (x1, y1) = corners
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=4)
    page.mouse.move(x1, y1, steps=4)
    page.mouse.up()
    page.wait_for_function(
        """(gd) => { const x = gd.layout.xaxis.range, y = gd.layout.yaxis.range;
                     return !!x && !!y && [...x, ...y].every((v) => Number.isInteger(v + 0.5)); }""",
        arg=gd.element_handle())
    xr, yr = gd.evaluate("(gd) => [gd.layout.xaxis.range, gd.layout.yaxis.range]")
    # whole cells around the dragged box: columns about 100…141, rows about 20…49 (row 0 at the top)
    assert xr[0] < xr[1] and 95 <= xr[0] + 0.5 <= 105 and 137 <= xr[1] - 0.5 <= 146, xr
    assert yr[0] > yr[1] and 44 <= yr[0] - 0.5 <= 54 and 15 <= yr[1] + 0.5 <= 25, yr


def test_on_a_phone_buttons_zoom_and_pan_the_matrix_at_whole_cells(
        new_page: Callable[..., Page], server_url: str) -> None:
    page = new_page(390, 844, touch=True)
    page.goto(server_url)
    wait_for_prediction(page)
    page.get_by_test_id(f"weights-{DENSE1}").tap()
    tools = page.get_by_test_id(f"layer-{DENSE1}").locator(".unit-weights")
    wait_for_plot(page, f"[data-testid=layer-{DENSE1}] .unit-weights")
    gd = tools.locator(".js-plotly-plot").first
    ranges = "(gd) => [gd._fullLayout.xaxis.range, gd._fullLayout.yaxis.range]"
    for _ in range(3):
        tools.get_by_test_id("zoom-in").tap()
    page.wait_for_function(f"(gd) => ({ranges})(gd)[0][1] - ({ranges})(gd)[0][0] < 60", arg=gd.element_handle())
    tools.get_by_test_id("zoom-right").tap()
    page.wait_for_function(f"(gd) => ({ranges})(gd)[0][0] > 180", arg=gd.element_handle())
    xr, yr = gd.evaluate(ranges)
    assert all(float(v + 0.5).is_integer() for v in (*xr, *yr)), (xr, yr)  # whole cells
    assert -0.5 <= xr[0] < xr[1] <= 399.5 and 119.5 >= yr[0] > yr[1] >= -0.5, (xr, yr)
    assert xr[1] - xr[0] < 60 and yr[0] - yr[1] < 40  # 3 halvings of 400 × 120
    tools.get_by_test_id("zoom-all").tap()
    page.wait_for_function(f"(gd) => ({ranges})(gd)[0][1] - ({ranges})(gd)[0][0] === 400", arg=gd.element_handle())

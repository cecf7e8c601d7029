"""Drawing on the pad the way a learner does: mouse strokes through page.mouse, in pad coordinates (0-280); touch
strokes through the Chrome DevTools Protocol; reading back what the page shows (numbers, Plotly figures); and
counting what it sends (Traffic)."""

from __future__ import annotations

import io
import math
import time
from typing import Any
from urllib.parse import urlparse

import numpy as np
from playwright.sync_api import Locator, Page, Request, expect

# Strokes of digits on the 280×280 pad, each a list of (x, y) points: thick handwritten digits filling the middle,
# each read by the pretrained network with more than 99 % confidence.
STROKES: dict[int, list[list[tuple[float, float]]]] = {
    0: [[(140, 45), (105, 60), (88, 100), (85, 150), (95, 200), (125, 232), (160, 232), (188, 200), (195, 150),
         (190, 95), (170, 58), (140, 45), (125, 52)]],
    1: [[(145, 45), (142, 100), (140, 160), (138, 235)]],
    2: [[(80, 80), (120, 45), (180, 55), (190, 100), (160, 150), (80, 230), (210, 230)]],
    3: [[(85, 60), (140, 45), (190, 70), (180, 115), (135, 135), (190, 160), (195, 210), (140, 238), (85, 220)]],
    4: [[(115, 40), (95, 100), (85, 145), (190, 145)], [(170, 40), (168, 140), (165, 240)]],
    7: [[(70, 60), (140, 58), (210, 60), (180, 120), (150, 180), (125, 240)]],
}

MINUS = "\u2212"


def pad_to_page(page: Page) -> Any:
    """A function from pad coordinates (0-280) to page coordinates, for the pad as it is laid out now."""
    box = page.get_by_test_id("draw-canvas").bounding_box()
    assert box is not None, "the drawing pad is not visible"
    sx, sy = box["width"] / 280, box["height"] / 280

    def to_page(x: float, y: float) -> tuple[float, float]:
        return box["x"] + x * sx, box["y"] + y * sy

    return to_page


def draw_stroke(page: Page, points: list[tuple[float, float]], steps: int = 6) -> None:
    """One stroke with the mouse: down at the first point, moves through the others, up at the last."""
    to_page = pad_to_page(page)
    page.mouse.move(*to_page(*points[0]))
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(*to_page(x, y), steps=steps)
    page.mouse.up()


def draw_digit(page: Page, digit: int) -> None:
    """Clear the pad and draw `digit` (one of STROKES) with mouse strokes."""
    page.get_by_test_id("clear").click()
    for stroke in STROKES[digit]:
        draw_stroke(page, stroke)


def touch_stroke(page: Page, points: list[tuple[float, float]], steps: int = 6) -> None:
    """One stroke with a finger, sent as CDP touch events (touchStart, touchMoves, touchEnd); the pad must be in view.
    Chromium turns them into pointer events of type 'touch', as on a phone."""
    to_page = pad_to_page(page)
    cdp = page.context.new_cdp_session(page)
    try:
        def touch(kind: str, x: float, y: float) -> None:
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [] if kind == "touchEnd" else
                                                  [{"x": x, "y": y, "radiusX": 4, "radiusY": 4, "force": 1}]})

        last = to_page(*points[0])
        touch("touchStart", *last)
        for point in points[1:]:
            nxt = to_page(*point)
            for k in range(1, steps + 1):
                touch("touchMove", last[0] + (nxt[0] - last[0]) * k / steps, last[1] + (nxt[1] - last[1]) * k / steps)
            last = nxt
        touch("touchEnd", *last)
    finally:
        cdp.detach()


def number(locator: Locator) -> float:
    """The number a person reads in an element: "−1.2345e−5" → -1.2345e-05."""
    text = (locator.text_content() or "").strip().replace(MINUS, "-")
    return float(text)


def rounding(x: float, digits: int = 6) -> float:
    """Half a unit of the last digit of x shown with `digits` significant digits: what its display may hide."""
    if x == 0 or not math.isfinite(x):
        return 0.0
    return 0.5 * 10 ** (math.floor(math.log10(abs(x))) - digits + 1)


def blur(page: Page) -> None:
    """Take the focus off any field, so that the page's keyboard shortcuts apply."""
    page.evaluate("document.activeElement && document.activeElement.blur()")


def plot_traces(locator: Locator) -> list[dict[str, Any]]:
    """The data Plotly drew in a figure (a .js-plotly-plot element inside `locator`): [] if not drawn yet."""
    return list(locator.locator(".js-plotly-plot").first.evaluate(
        "(gd) => (gd.data || []).map((t) => ({type: t.type, name: t.name, y: t.y ? Array.from(t.y) : null, "
        "z: t.z ? t.z.map((row) => Array.from(row)) : null}))"))


def wait_for_plot(page: Page, selector: str, timeout: float = 10_000) -> None:
    """Wait until the first Plotly figure under the CSS `selector` holds a trace with data."""
    page.wait_for_function(
        """(sel) => { const gd = document.querySelector(sel)?.querySelector('.js-plotly-plot');
                      return !!gd && gd.offsetParent !== null
                        && (gd.data || []).some((t) => (t.z || t.y || []).length); }""",
        arg=selector, timeout=timeout)


def click_heatmap_cell(page: Page, figure: Locator, y: int, x: int) -> None:
    """Click the cell (row y, column x) of a mosaic heatmap, where Plotly draws it on screen."""
    figure.scroll_into_view_if_needed()
    point = figure.locator(".js-plotly-plot").first.evaluate(
        """(gd, [y, x]) => { const L = gd._fullLayout, r = gd.getBoundingClientRect();
               return [r.left + L.xaxis._offset + L.xaxis.d2p(x), r.top + L.yaxis._offset + L.yaxis.d2p(y)]; }""",
        [y, x])
    page.mouse.click(point[0], point[1])


def digit_png(label: int, size: int = 112) -> bytes:
    """A PNG of an MNIST test digit (white on black, as MNIST has it), scaled up to size×size."""
    from PIL import Image

    from cnn.pretrained import load_samples

    images, labels = load_samples()
    index = int(list(labels).index(label))
    image = Image.fromarray(images[index]).resize((size, size), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def wait_for_stroke_forward(page: Page, timeout: float = 15_000) -> None:
    """Wait until the forward of the drawing as it was at the last stroke's end is painted: the page measures
    'stroke-to-forward' from that 'stroke-end' mark."""
    page.wait_for_function(
        """() => { const end = performance.getEntriesByName('stroke-end').at(-1);
                   return !!end && performance.getEntriesByName('stroke-to-forward')
                     .some((m) => m.startTime === end.startTime); }""", timeout=timeout)


def prediction(page: Page) -> int | None:
    """The digit the page shows as its prediction, None when it shows none."""
    value = page.get_by_test_id("prediction").get_attribute("data-value")
    return int(value) if value else None


def page_state(page: Page, select: str) -> Any:
    """`select` (JS, a function of the page's state: (s) => ...) applied to the page's store (static/js/state.js),
    read through main.js's export: the same module instance as the page's, so the state the page holds now."""
    return page.evaluate(
        f"""async () => {{ const {{ store }} = await import(document.querySelector('script[type=module]').src);
                          return ({select})(store.get()); }}""")


def wait_for_state(page: Page, predicate: str, timeout: float = 15_000) -> Any:
    """Poll until `predicate` (JS, a function of the page's state) is truthy, and return its value. Not
    page.wait_for_function: reading the store takes an async import, and a Promise is truthy at once."""
    deadline = time.monotonic() + timeout / 1000
    while True:
        value = page_state(page, predicate)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"the page's state never satisfied {predicate}")
        page.wait_for_timeout(50)


def wire_array(a: dict[str, Any]) -> Any:
    """A wire array ({"shape", "dtype", "data": base64}) as numpy."""
    import base64

    import numpy as np

    return np.frombuffer(base64.b64decode(a["data"]), dtype=np.dtype(a["dtype"]).newbyteorder("<")).reshape(a["shape"])


class Traffic:
    """The page's requests to the API and the WebSockets it opens, from the moment of creation."""

    def __init__(self, page: Page) -> None:
        self.requests: list[Request] = []
        self.sockets: list[str] = []
        page.on("request", lambda r: self.requests.append(r) if "/api/" in r.url else None)
        page.on("websocket", lambda ws: self.sockets.append(ws.url))

    def calls(self) -> list[tuple[str, str]]:
        return [(r.method, urlparse(r.url).path) for r in self.requests]


def wait_until_idle(page: Page) -> None:
    """The weights are in the page and no update is out: Apply update is enabled and says so. A request still to
    come from the last action (the old flow fetched the weights after a step) has 300 ms to show itself."""
    expect(page.get_by_test_id("apply-update")).to_have_text("Apply update")
    expect(page.get_by_test_id("apply-update")).to_be_enabled()
    page.wait_for_timeout(300)


def apply_update(page: Page, step: int) -> dict[str, Any]:
    """Press Apply update, wait until the page shows step `step`, and return the step answer (JSON, undecoded)."""
    with page.expect_response("**/api/step") as response:
        page.get_by_test_id("apply-update").click()
    expect(page.get_by_test_id("update-summary")).to_contain_text(f"Step {step} ", timeout=20_000)
    assert response.value.status == 200
    return dict(response.value.json())


def server_params(page: Page, layer: str) -> dict[str, np.ndarray]:
    """GET /api/params/<layer> for the page's own session (its cookie, its tab), fetched by the test."""
    tab = page.evaluate("sessionStorage.getItem('cnn-visualizer-tab')")
    origin = "{0.scheme}://{0.netloc}".format(urlparse(page.url))  # the page's address ends in its view's fragment
    response = page.request.get(f"{origin}/api/params/{layer}", headers={"X-Tab-Id": tab})
    assert response.ok, response.text()
    return {key: wire_array(a).astype(np.float64) for key, a in response.json()["params"].items()}


def page_params(page: Page) -> dict[str, dict[str, np.ndarray]]:
    """The weights the page holds (its store), by layer and parameter."""
    raw = page_state(page, """(s) => Object.fromEntries(Object.entries(s.params).map(([name, p]) => [name,
        Object.fromEntries(Object.entries(p).map(([k, t]) => [k, {shape: t.shape, data: Array.from(t.data)}]))]))""")
    return {name: {k: np.reshape(t["data"], t["shape"]) for k, t in p.items()} for name, p in raw.items()}

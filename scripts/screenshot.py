"""Make docs/screenshot.png, the README's picture: the page at 1280×800 in the middle of a backward pass.

    .venv/bin/python scripts/screenshot.py [--out docs/screenshot.png] [--layer 3] [--target 3]

It starts the server (uvicorn on a free port of 127.0.0.1) and headless Chromium (CNN_TEST_CHROMIUM, default
/usr/bin/chromium), lets the page load its sample 7, sets the target to 3, presses "Backward one layer" until conv2
(layer 3) is the current step, opens that layer's strongest δ cell (outlined in its maps, explained in the side
panel), scrolls so that the pending layer before it and the current layer's maps fill the window, and saves the window
as a palette PNG (well under 400 KB). Server and browser are always stopped.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import sys
from pathlib import Path

from PIL import Image
from playwright.sync_api import Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: the repository's packages are importable

from benchmarks.server import Server, free_port  # noqa: E402

CHROMIUM = Path(os.environ.get("CNN_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
]
LAYERS = 12
TIMEOUT_MS = 30_000


def open_strongest_delta(page: Page, layer: int) -> None:
    """Click the cell of the upper half of the layer's δ map with the largest |δ| (the lower half may be below the
    window's edge): the explanation and the neuron inspector both show it, the maps outline it."""
    figure = page.get_by_test_id(f"layer-{layer}").locator(".bwd figure").first
    figure.scroll_into_view_if_needed()
    page.wait_for_function("(fig) => (fig.querySelector('.js-plotly-plot')?.data || []).length > 0",
                           arg=figure.element_handle(), timeout=TIMEOUT_MS)
    point = figure.locator(".js-plotly-plot").evaluate(
        """(gd) => { const z = gd.data.at(-1).z; let best = [0, 0], m = -1;
                     z.slice(0, z.length / 2).forEach((row, y) => row.forEach((v, x) => {
                       if (v !== null && Math.abs(v) > m) { m = Math.abs(v); best = [y, x]; } }));
                     const L = gd._fullLayout, r = gd.getBoundingClientRect();
                     return [r.left + L.xaxis._offset + L.xaxis.d2p(best[1]),
                             r.top + L.yaxis._offset + L.yaxis.d2p(best[0])]; }""")
    page.mouse.click(*point)


def capture(base_url: str, out: Path, layer: int, target: int, width: int, height: int) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=1)
            page.goto(base_url)
            page.wait_for_function("() => document.querySelector('[data-testid=prediction]')?.dataset.value",
                                   timeout=TIMEOUT_MS)  # a function: see tests/browser/conftest.py
            page.get_by_test_id("target").select_option(str(target))
            step = page.get_by_test_id("backward-step")
            for index in reversed(range(layer, LAYERS)):
                step.click()
                expect(page.get_by_test_id(f"layer-{index}")).to_have_attribute("data-backward", "current",
                                                                                 timeout=TIMEOUT_MS)
            open_strongest_delta(page, layer)
            expect(page.get_by_test_id("inspector-delta")).to_be_visible(timeout=TIMEOUT_MS)
            # the pending layer above at the top of the window, then the current one: the walk in progress
            page.evaluate("""(i) => { const el = document.querySelector(`[data-testid=layer-${i}]`);
                                      window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - 4); }""",
                          max(layer - 1, 0))
            page.evaluate("document.activeElement && document.activeElement.blur()")
            page.mouse.move(width - 2, height - 2)  # no hover label over a plot
            page.wait_for_function(
                """() => [...document.querySelectorAll('.js-plotly-plot')].filter((gd) => {
                           const r = gd.getBoundingClientRect(); return r.bottom > 0 && r.top < innerHeight
                             && gd.offsetParent !== null; }).every((gd) => (gd.data || []).length > 0)""",
                timeout=TIMEOUT_MS)
            page.wait_for_timeout(500)  # Plotly's last layout pass and the smooth scroll settle
            png = page.screenshot(animations="disabled")
        finally:
            browser.close()
    image = Image.open(io.BytesIO(png)).convert("RGB")
    # a palette of 256 colours: the page is flat colours and smooth colour scales, which a palette keeps legible
    small = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out.parent.mkdir(parents=True, exist_ok=True)
    small.save(out, format="PNG", optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png", help="where the PNG goes")
    parser.add_argument("--layer", type=int, default=3, help="the layer to stop at, a convolution (default 3: conv2)")
    parser.add_argument("--target", type=int, default=3, help="the target label, not the prediction 7 (default 3)")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=800)
    args = parser.parse_args(argv)
    if not 0 <= args.layer < LAYERS or not 0 <= args.target <= 9 or args.target == 7:
        parser.error(f"--layer must be in 0-{LAYERS - 1}, --target in 0-9 and not 7 (the sample's own label)")
    server = Server(free_port(), max_sessions=10)
    try:
        server.wait_healthy()
        capture(server.base_url, args.out, args.layer, args.target, args.width, args.height)
    finally:
        server.stop()
    size = args.out.stat().st_size
    sys.stdout.write(f"wrote {args.out} ({args.width}×{args.height}, {math.ceil(size / 1024)} KB)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

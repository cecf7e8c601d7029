"""The page's own timings in headless Chromium: drawing → prediction painted, and a whole backward run painted.

    python -m benchmarks.frontend [--strokes 30] [--runs 30] [--width 1280] [--height 800]

It starts its own server (uvicorn app.main:app on a free port of 127.0.0.1, as benchmarks.server does) and Debian's
Chromium (CNN_TEST_CHROMIUM, default /usr/bin/chromium) through Playwright, opens the page, and reads the
performance measures the page records itself (static/js/timing.js, which follows the page's store):
  * stroke-to-forward: from the pointer leaving the pad ('stroke-end') to the new forward's plots painted: the page
    preprocesses the drawing itself, sends its 28×28 input and paints the answer. Each sample clears the pad, draws a
    one-stroke digit with the mouse and waits for its measure.
  * backward-run: from "Run to the end" ('backward-start') to all twelve layers' backward plots painted (those on
    screen; the others are painted later in idle time, by design). Each sample presses Forward, waits for the
    forward, then presses Run to the end.
A few warm-up samples of each come first and are not reported. Budgets: stroke-to-forward p95 ≤ 100 ms,
backward-run p95 ≤ 300 ms. The server and the browser share this machine's cores, so the figures are an upper bound.
The server and the browser are always stopped, however the benchmark ends.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from benchmarks.server import Server, free_port

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("CNN_TEST_CHROMIUM", "/usr/bin/chromium"))
# The flags of tests/browser/conftest.py: headless, no sandbox (containers), no network chatter of its own.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
BUDGETS_MS = {"stroke-to-forward": 100.0, "backward-run": 300.0}  # on p95
WARMUP = 3
TIMEOUT_MS = 30_000
# One-stroke digits on the 280×280 pad (as in tests/browser/helpers.py): one stroke-end, one measure per drawing.
DIGITS: dict[int, list[tuple[float, float]]] = {
    0: [(140, 45), (105, 60), (88, 100), (85, 150), (95, 200), (125, 232), (160, 232), (188, 200), (195, 150),
        (190, 95), (170, 58), (140, 45), (125, 52)],
    1: [(145, 45), (142, 100), (140, 160), (138, 235)],
    2: [(80, 80), (120, 45), (180, 55), (190, 100), (160, 150), (80, 230), (210, 230)],
    3: [(85, 60), (140, 45), (190, 70), (180, 115), (135, 135), (190, 160), (195, 210), (140, 238), (85, 220)],
    7: [(70, 60), (140, 58), (210, 60), (180, 120), (150, 180), (125, 240)],
}


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (nan when there are no samples)."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[max(1, min(len(ordered), math.ceil(q / 100 * len(ordered)))) - 1]


def measures(page: Page, name: str) -> list[float]:
    return [float(d) for d in page.evaluate("(n) => performance.getEntriesByName(n).map((e) => e.duration)", name)]


def draw(page: Page, points: list[tuple[float, float]]) -> None:
    """Clear the pad and draw one stroke with the mouse, then wait for its 'stroke-to-forward' measure."""
    page.get_by_test_id("clear").click()
    box = page.get_by_test_id("draw-canvas").bounding_box()
    assert box is not None, "the drawing pad is not on screen"
    k = box["width"] / 280
    page.mouse.move(box["x"] + points[0][0] * k, box["y"] + points[0][1] * k)
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(box["x"] + x * k, box["y"] + y * k, steps=6)
    page.mouse.up()
    page.wait_for_function(
        """() => { const end = performance.getEntriesByName('stroke-end').at(-1);
                   return !!end && performance.getEntriesByName('stroke-to-forward')
                     .some((m) => m.startTime === end.startTime); }""", timeout=TIMEOUT_MS)


def backward_run(page: Page) -> None:
    """Forward (all layers back to pending), then Run to the end, and wait for its 'backward-run' measure."""
    before = len(measures(page, "backward-run"))
    with page.expect_response("**/api/forward", timeout=TIMEOUT_MS):
        page.get_by_test_id("forward").click()
    page.wait_for_function(
        """() => document.querySelector('[data-testid=layer-0]').dataset.backward === 'pending'
                 && !document.querySelector('[data-testid=forward]').disabled""", timeout=TIMEOUT_MS)
    page.get_by_test_id("backward-run").click()
    page.wait_for_function("(n) => performance.getEntriesByName('backward-run').length > n", arg=before,
                           timeout=TIMEOUT_MS)


def report(name: str, samples: list[float]) -> bool:
    p50, p95, budget = percentile(samples, 50), percentile(samples, 95), BUDGETS_MS[name]
    ok = p95 <= budget
    print(f"{name:<18} {len(samples):>7} {p50:>8.1f} {p95:>8.1f} {min(samples):>8.1f} {max(samples):>8.1f}   "
          f"p95 ≤ {budget:.0f} ms  {'ok' if ok else 'OVER BUDGET'}")
    return ok


def chromium_version() -> str:
    try:
        return subprocess.run([str(CHROMIUM), "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "Chromium (version unknown)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strokes", type=int, default=30, help="drawings timed (default 30)")
    parser.add_argument("--runs", type=int, default=30, help="backward runs timed (default 30)")
    parser.add_argument("--width", type=int, default=1280, help="viewport width in CSS pixels (default 1280)")
    parser.add_argument("--height", type=int, default=800, help="viewport height in CSS pixels (default 800)")
    args = parser.parse_args(argv)
    if args.strokes < 1 or args.runs < 1 or args.width < 200 or args.height < 200:
        parser.error("--strokes and --runs must be at least 1, the viewport at least 200×200")
    if not CHROMIUM.exists():
        parser.error(f"Chromium not found at {CHROMIUM} (set CNN_TEST_CHROMIUM to its path)")

    server = Server(free_port(), max_sessions=100)
    try:
        server.wait_healthy()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": args.width, "height": args.height})
                errors: list[str] = []
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(server.base_url)
                page.wait_for_function("() => document.querySelector('[data-testid=prediction]')?.dataset.value",
                                       timeout=TIMEOUT_MS)  # a function: see tests/browser/conftest.py
                digits = list(DIGITS.values())
                for k in range(WARMUP):
                    draw(page, digits[k % len(digits)])
                    backward_run(page)
                page.evaluate("performance.clearMeasures(); performance.clearMarks()")
                for k in range(args.strokes):
                    draw(page, digits[k % len(digits)])
                strokes = measures(page, "stroke-to-forward")
                for _ in range(args.runs):
                    backward_run(page)
                runs = measures(page, "backward-run")
            finally:
                browser.close()
        print(f"{chromium_version()} headless, viewport {args.width}×{args.height}, {os.cpu_count()} CPUs shared "
              f"by the server and the browser, Python {sys.version.split()[0]}")
        print(f"{'measure':<18} {'samples':>7} {'p50 ms':>8} {'p95 ms':>8} {'min ms':>8} {'max ms':>8}   budget")
        ok = [report("stroke-to-forward", strokes), report("backward-run", runs)]
        if errors:
            print("the page logged errors:\n  " + "\n  ".join(errors))
            return 1
        if server.proc.poll() is not None:
            print(f"the server died during the run:\n{server.output()}")
            return 1
        return 0 if all(ok) else 2
    finally:
        server.stop()


if __name__ == "__main__":
    raise SystemExit(main())

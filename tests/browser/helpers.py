"""Drawing on the pad the way a learner does: mouse strokes through page.mouse, in pad coordinates (0-280)."""

from __future__ import annotations

from playwright.sync_api import Page

# Strokes of digits on the 280×280 pad, each a list of (x, y) points.
STROKES: dict[int, list[list[tuple[float, float]]]] = {
    1: [[(145, 45), (142, 100), (140, 160), (138, 235)]],
    7: [[(70, 60), (140, 58), (210, 60), (180, 120), (150, 180), (125, 240)]],
}


def draw_stroke(page: Page, points: list[tuple[float, float]], steps: int = 6) -> None:
    """One stroke with the mouse: down at the first point, moves through the others, up at the last."""
    box = page.get_by_test_id("draw-canvas").bounding_box()
    assert box is not None, "the drawing pad is not visible"
    sx, sy = box["width"] / 280, box["height"] / 280

    def to_page(x: float, y: float) -> tuple[float, float]:
        return box["x"] + x * sx, box["y"] + y * sy

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

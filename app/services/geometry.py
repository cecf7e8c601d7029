"""The geometry of MNIST's normalisation, one pure function per step, on float64 arrays in [0, 1].

MNIST (LeCun, Cortes, Burges): each NIST digit was size-normalised to fit a 20×20 box keeping its aspect ratio, with
anti-aliasing (hence the grey edges), then placed in a 28×28 field so that its centre of mass sits at the field's
centre. Measured on the 10 000 test digits: the longer side of the non-zero box is 20 px in 9 997 of them, and the
centre of mass (row, col), in pixel-index coordinates (0..27), lies in [13.5, 14.5] in both directions, mean 14.0:
the digit was shifted by whole pixels to put its centre of mass nearest (14, 14). `place` does the same.

What is ink, what is background and what is an error is decided by the caller (images.py); these functions only
measure and move pixels.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
from PIL import Image

FIELD: Final = 28  # the input is FIELD × FIELD
BOX: Final = 20  # the digit's longer side
CENTER: Final = 14.0  # where the centre of mass goes, in pixel-index coordinates (see the module docstring)


def border(a: np.ndarray) -> np.ndarray:
    """(H, W) -> (2H + 2W - 4,): the outermost rows and columns, each pixel once."""
    if a.shape[0] <= 2 or a.shape[1] <= 2:
        return a.ravel()
    return np.concatenate([a[0], a[-1], a[1:-1, 0], a[1:-1, -1]])


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(H, W) bool with at least one True -> (top, left, bottom, right), bottom and right exclusive like a slice."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def fit_box(a: np.ndarray, box: int = BOX) -> np.ndarray:
    """(h, w) -> (box, ≤ box) or (≤ box, box): the longer side becomes `box`, the aspect ratio is kept.

    Lanczos on a float ("F") image: anti-aliased when shrinking a big canvas, sharp when enlarging a small drawing.
    Its small overshoots are clipped back into [0, 1]. The shorter side is at least 1 px, so a "1" drawn as a
    single vertical line stays visible.
    """
    h, w = a.shape
    if h >= w:
        size = (max(1, round(box * w / h)), box)  # Pillow sizes are (width, height)
    else:
        size = (box, max(1, round(box * h / w)))
    image = Image.fromarray(a.astype(np.float32))  # float32 (h, w) -> mode "F", no quantisation to 8 bits
    # reducing_gap: a big crop is first shrunk by a whole factor with a box filter, far cheaper than a 600-tap
    # Lanczos kernel per output pixel, and indistinguishable at 20 px.
    resized = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.clip(np.asarray(resized, dtype=np.float64), 0.0, 1.0)


def center_of_mass(a: np.ndarray) -> tuple[float, float]:
    """(h, w) with a positive sum -> (row, col), the intensity-weighted mean position in pixel-index coordinates."""
    total = a.sum()
    row = float(a.sum(axis=1) @ np.arange(a.shape[0]) / total)
    col = float(a.sum(axis=0) @ np.arange(a.shape[1]) / total)
    return row, col


def place(
    a: np.ndarray, com: tuple[float, float], field: int = FIELD, center: float = CENTER
) -> tuple[np.ndarray, tuple[int, int]]:
    """(h, w) with h, w ≤ field -> ((field, field), (top, left)): `a` pasted on black so its centre of mass `com`
    lands on (center, center), nearest by whole pixels as MNIST did (no resampling, so no blur).

    The shift is clamped so the whole digit stays inside: a lopsided digit is moved as far as it can go, never cut.
    """
    h, w = a.shape
    top = min(max(math.floor(center - com[0] + 0.5), 0), field - h)  # floor(x + 0.5): round half up, not to even
    left = min(max(math.floor(center - com[1] + 0.5), 0), field - w)
    out = np.zeros((field, field))
    out[top : top + h, left : left + w] = a
    return out, (top, left)


def shrink(a: np.ndarray, factor: float) -> np.ndarray:
    """(H, W) -> (≈ H·factor, ≈ W·factor), each side at least 1: area-averaged, for display only."""
    if factor >= 1.0:
        return a
    size = (max(1, round(a.shape[1] * factor)), max(1, round(a.shape[0] * factor)))
    image = Image.fromarray(a.astype(np.float32)).resize(size, Image.Resampling.BOX)
    return np.asarray(image, dtype=np.float64)

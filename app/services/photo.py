"""A photographed digit -> its ink, on a black background, as clean as a scan's: what app.services.images then crops,
scales and centres the MNIST way.

A phone photo of a digit on paper is lit unevenly, noisy, a little blurred and off centre. Thresholding it against
one background level, as a drawing is, keeps the lighting gradient as "ink" and the digit drowns in it. Here:

1. the paper's own brightness is estimated everywhere (a closing, max then min, that removes strokes thinner than
   its window, on a copy shrunk to ~64 px, then blurred and enlarged back), and the image is divided by it: flat
   field correction, which takes a multiplicative lighting gradient out whatever its direction;
2. what is darker than the paper becomes ink: 1 − image / paper, the share of the paper's light the ink takes;
3. Otsu's threshold splits ink from paper noise, and only the main connected components stay (a speck, a shadow in a
   corner or a crease is dropped).

`looks_photographed` decides which images take this path: those whose border (paper, normally) varies by more than
a scan's or a canvas's does. A drawing from the page's pad has a uniform border and keeps the plain path, which the
page reproduces bit for bit (static/js/lib/preprocess.js).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import numpy as np
from PIL import Image

from app.services import geometry

# The spread (90th − 10th percentile) of the border above which the paper is taken to be lit unevenly or noisy: a
# canvas or a clean scan has ~0, sensor noise of σ = 0.03 alone gives ~0.08.
PHOTO_BORDER_SPREAD: Final = 0.05
PAPER_RANGE: Final = 0.3  # border pixels further than this from its median are ink that reaches the edge, not paper
BACKGROUND_SIDE: Final = 64  # the lighting is estimated on a copy this size: it varies slowly
BACKGROUND_WINDOW: Final = 7  # px of that copy, ~1/9 of the image: wider than a stroke, narrower than the lighting
LABEL_SIDE: Final = 160  # connected components are found on a copy at most this size
# Ink is at least this much darker than the paper around it (relatively): pen or pencil on paper is 0.3-0.8, the
# noise of a phone's sensor a few hundredths.
MIN_CONTRAST: Final = 0.12
KEEP_COMPONENT: Final = 0.12  # components smaller than this share of the largest are dropped as noise


def looks_photographed(gray: np.ndarray) -> bool:
    """Whether the border of (H, W) in [0, 1] varies as a photo's paper does (lighting, noise), not as a canvas's.
    Only the border's paper-like pixels count (within PAPER_RANGE of its median): ink that reaches the edge is no
    sign of a photo."""
    edge = geometry.border(gray)
    paper = edge[np.abs(edge - np.median(edge)) <= PAPER_RANGE]
    low, high = np.percentile(paper, [10, 90])
    return bool(high - low > PHOTO_BORDER_SPREAD)


def _resize(a: np.ndarray, size: tuple[int, int], resample: Image.Resampling) -> np.ndarray:
    """(h, w) float -> `size` (width, height), in float32 ("F" mode: no quantisation)."""
    return np.asarray(Image.fromarray(a.astype(np.float32)).resize(size, resample), dtype=np.float64)


def paper_level(gray: np.ndarray) -> np.ndarray:
    """(H, W) in [0, 1], dark ink on light paper -> the paper's brightness at every pixel, as if there were no ink."""
    h, w = gray.shape
    scale = BACKGROUND_SIDE / max(h, w)
    small_size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = _resize(gray, small_size, Image.Resampling.BOX)
    closed = _window(_window(small, np.max), np.min)  # a closing: dark strokes narrower than the window vanish
    smooth = _blur(closed, BACKGROUND_WINDOW / 2)
    return np.maximum(_resize(smooth, (w, h), Image.Resampling.BILINEAR), 1e-3)


def _blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur (edges repeated), one axis after the other: Pillow's blur takes no float images."""
    r = max(1, int(3 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    for axis in (0, 1):
        padded = np.pad(a, [(r, r) if i == axis else (0, 0) for i in range(2)], mode="edge")
        a = np.lib.stride_tricks.sliding_window_view(padded, 2 * r + 1, axis=axis) @ kernel
    return a


def _window(a: np.ndarray, reduce: Callable[..., np.ndarray]) -> np.ndarray:
    """The max or min over a BACKGROUND_WINDOW square around each pixel (edges repeated): Pillow's rank filters take
    no float images."""
    r = BACKGROUND_WINDOW // 2
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(a, r, mode="edge"), (BACKGROUND_WINDOW,) * 2)
    return reduce(windows, axis=(2, 3))


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """The level that best splits `values` in [0, 1] into two classes (Otsu 1979: the largest between-class
    variance)."""
    hist, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    p = hist / max(1, hist.sum())
    centers = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(p)
    m0 = np.cumsum(p * centers)
    total = m0[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total * w0 - m0) ** 2 / (w0 * (1 - w0))
    between[~np.isfinite(between)] = 0.0
    # Every level between two well separated groups splits them alike: the middle of those levels, not the first.
    best = np.flatnonzero(between >= between.max() * (1 - 1e-9))
    return float(edges[(best[0] + best[-1]) // 2 + 1])


def components(mask: np.ndarray) -> np.ndarray:
    """(h, w) bool -> int labels of its 8-connected components (0: background), by propagating each pixel's smallest
    neighbouring label until nothing changes (vectorised; meant for small masks)."""
    h, w = mask.shape
    big = h * w + 1
    labels = np.where(mask, np.arange(1, h * w + 1).reshape(h, w), big)
    while True:
        padded = np.pad(labels, 1, constant_values=big)
        smallest = labels.copy()
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                smallest = np.minimum(smallest, padded[1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w])
        smallest = np.where(mask, smallest, big)
        if np.array_equal(smallest, labels):
            return np.where(mask, labels, 0)
        labels = smallest


def main_components(mask: np.ndarray) -> np.ndarray:
    """The pixels of `mask` that belong to its main connected components (each at least KEEP_COMPONENT of the
    largest), found on a copy at most LABEL_SIDE px a side."""
    h, w = mask.shape
    scale = min(1.0, LABEL_SIDE / max(h, w))
    small_size = (max(1, round(w * scale)), max(1, round(h * scale)))
    # Any ink in a block makes the small pixel ink (a max), so thin strokes stay connected when shrunk.
    small = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(small_size, Image.Resampling.BOX)) > 0
    labels = components(small)
    ids, sizes = np.unique(labels[labels > 0], return_counts=True)
    if ids.size == 0:
        return mask
    keep_small = np.isin(labels, ids[sizes >= KEEP_COMPONENT * sizes.max()])
    keep = np.asarray(Image.fromarray(keep_small.astype(np.uint8) * 255).resize((w, h), Image.Resampling.NEAREST))
    return mask & (keep > 0)


def photo_ink(gray: np.ndarray, inverted: bool) -> np.ndarray:
    """(H, W) in [0, 1], 1 = white -> the ink in [0, 1] on 0, lighting, paper and noise removed. `inverted`: the
    paper is light (dark ink), as in nearly every photo; else light ink on a dark ground, corrected by subtraction."""
    if inverted:
        ink = 1.0 - gray / paper_level(gray)
    else:
        ink = gray - (1.0 - paper_level(1.0 - gray))
    ink = np.clip(ink, 0.0, 1.0)
    # Otsu's split, but never below MIN_CONTRAST: on blank paper it would split the noise itself.
    mask = ink > max(otsu_threshold(ink), MIN_CONTRAST)
    return np.where(main_components(mask), ink, 0.0)

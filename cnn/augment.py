"""Data augmentation for digits: small random rotations, scalings, shifts and stroke-width changes.

Digits drawn in a browser are less centred and thicker or thinner than MNIST's; training on perturbed copies teaches
the network to read them. Everything is vectorised over the batch and driven by an explicit rng, so a seed fixes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cnn.layers.base import Array

_MARGIN = 16  # zeros around each image, wide enough that every sampled point of a bounded warp lands inside


@dataclass(frozen=True)
class Augmentation:
    """Ranges of the random perturbations; each image draws its own values uniformly from them."""

    max_rotation_deg: float = 12.0
    scale_range: tuple[float, float] = (0.85, 1.12)
    max_shift_px: float = 2.0
    thicken_prob: float = 0.25  # blend towards a 3×3 dilation (thicker strokes)
    thin_prob: float = 0.15  # blend towards a 3×3 erosion (thinner strokes)


def affine_warp(images: Array, matrices: Array, shifts: Array) -> Array:
    """(N, H, W) -> (N, H, W): out(p) = image(M·(p − c) + c − t), bilinear, zero outside; c the image centre.

    matrices (N, 2, 2) map output offsets to input offsets (row, col); shifts (N, 2) move the content by t pixels.
    """
    N, H, W = images.shape
    pad = np.zeros((N, H + 2 * _MARGIN, W + 2 * _MARGIN), dtype=np.float32)
    pad[:, _MARGIN : _MARGIN + H, _MARGIN : _MARGIN + W] = images
    cy, cx = (H - 1) / 2, (W - 1) / 2
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    dy, dx = ys - cy, xs - cx  # (H, W) offsets from the centre
    m = matrices.astype(np.float32)[:, :, :, None, None]  # (N, 2, 2, 1, 1)
    t = shifts.astype(np.float32)
    sy = m[:, 0, 0] * dy + m[:, 0, 1] * dx + (cy + _MARGIN) - t[:, 0, None, None]  # (N, H, W)
    sx = m[:, 1, 0] * dy + m[:, 1, 1] * dx + (cx + _MARGIN) - t[:, 1, None, None]
    Hp, Wp = pad.shape[1:]
    sy = np.clip(sy, 0, Hp - 1.001)
    sx = np.clip(sx, 0, Wp - 1.001)
    fy, fx = np.floor(sy), np.floor(sx)
    y0, x0 = fy.astype(np.intp), fx.astype(np.intp)
    wy, wx = sy - fy, sx - fx  # float32 − float32: stays float32 (minus the int index it would become float64)
    base = (np.arange(N) * Hp * Wp)[:, None, None] + y0 * Wp + x0  # flat index of the top-left neighbour
    flat = pad.ravel()
    top = flat[base] * (1 - wx) + flat[base + 1] * wx
    bottom = flat[base + Wp] * (1 - wx) + flat[base + Wp + 1] * wx
    return top * (1 - wy) + bottom * wy


def _morph(images: Array, op: str) -> Array:
    """3×3 grey dilation ('max') or erosion ('min') of (N, H, W) images."""
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    win = sliding_window_view(padded, (3, 3), axis=(1, 2))  # (N, H, W, 3, 3)
    return win.max(axis=(3, 4)) if op == "max" else win.min(axis=(3, 4))


def augment(images: Array, rng: np.random.Generator, config: Augmentation = Augmentation()) -> Array:
    """(N, H, W) floats in [0, 1] -> (N, H, W) randomly perturbed copies, in [0, 1]."""
    N = images.shape[0]
    angle = np.deg2rad(rng.uniform(-config.max_rotation_deg, config.max_rotation_deg, N))
    scale = rng.uniform(*config.scale_range, N)
    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale  # inverse map: output offset -> input offset
    matrices = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], 1)  # (N, 2, 2)
    shifts = rng.uniform(-config.max_shift_px, config.max_shift_px, (N, 2))
    out = affine_warp(images, matrices, shifts)
    pick = rng.random((N,))
    strength = rng.random((N,)).astype(np.float32)[:, None, None]
    thick = pick < config.thicken_prob
    thin = (pick >= config.thicken_prob) & (pick < config.thicken_prob + config.thin_prob)
    if thick.any():
        out[thick] += strength[thick] * (_morph(out[thick], "max") - out[thick])
    if thin.any():
        out[thin] += 0.6 * strength[thin] * (_morph(out[thin], "min") - out[thin])
    return np.clip(out, 0.0, 1.0, out=out)

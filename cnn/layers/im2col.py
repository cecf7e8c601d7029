"""im2col and its adjoint col2im: a convolution becomes one matrix product (seed 001, seed 003).

Column order, where the bugs hide: `im2col` returns cols of shape (C·KH·KW, N·OH·OW). Row r = (c, kh, kw) in C order,
the same order as `W.reshape(F, -1)`, so `W.reshape(F, -1) @ cols` is the convolution. Column q = (n, oh, ow) in C
order, so the product reshapes to (F, N, OH, OW).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from cnn.layers.base import Array


def pad_spatial(x: Array, padding: int) -> Array:
    """(N, C, H, W) -> (N, C, H + 2P, W + 2P), zeros around each map."""
    if padding == 0:
        return x
    N, C, H, W = x.shape
    out = np.zeros((N, C, H + 2 * padding, W + 2 * padding), dtype=x.dtype)
    out[:, :, padding : padding + H, padding : padding + W] = x  # faster than np.pad for small arrays
    return out


def windows(x: Array, KH: int, KW: int, stride: int) -> Array:
    """(N, C, H, W) -> a read-only strided view (N, C, OH, OW, KH, KW) of every window the kernel visits. No copy.

    The same view as numpy's sliding_window_view followed by [::stride], built directly: at batch 1 the Python
    overhead of sliding_window_view is a noticeable share of a whole layer.
    """
    N, C, H, W = x.shape
    sN, sC, sH, sW = x.strides
    OH, OW = (H - KH) // stride + 1, (W - KW) // stride + 1
    return as_strided(x, (N, C, OH, OW, KH, KW), (sN, sC, sH * stride, sW * stride, sH, sW), writeable=False)


def im2col(x: Array, KH: int, KW: int, stride: int, padding: int) -> Array:
    """(N, C, H, W) -> cols (C·KH·KW, N·OH·OW); rows ordered (c, kh, kw), columns (n, oh, ow)."""
    win = windows(pad_spatial(x, padding), KH, KW, stride)  # (N, C, OH, OW, KH, KW)
    N, C, OH, OW = win.shape[:4]
    return win.transpose(1, 4, 5, 0, 2, 3).reshape(C * KH * KW, N * OH * OW)  # copies once


def fold_windows(win: Array, H: int, W: int, stride: int) -> Array:
    """Adjoint of `windows`: (N, C, OH, OW, KH, KW) -> (N, C, H, W), adding where windows overlap."""
    N, C, OH, OW, KH, KW = win.shape
    if stride == KH == KW and OH * KH == H and OW * KW == W:
        # Windows tile the input exactly (2×2 pooling, stride 2): folding is a reshape, no additions.
        return win.transpose(0, 1, 2, 4, 3, 5).reshape(N, C, H, W)
    out = np.zeros((N, C, H, W), dtype=win.dtype)
    for i in range(KH):
        for j in range(KW):
            out[:, :, i : i + stride * OH : stride, j : j + stride * OW : stride] += win[:, :, :, :, i, j]
    return out


def col2im(cols: Array, x_shape: tuple[int, ...], KH: int, KW: int, stride: int, padding: int) -> Array:
    """Adjoint of `im2col`: cols (C·KH·KW, N·OH·OW) -> (N, C, H, W), overlapping windows adding up."""
    N, C, H, W = x_shape
    Hp, Wp = H + 2 * padding, W + 2 * padding
    OH, OW = (Hp - KH) // stride + 1, (Wp - KW) // stride + 1
    per_offset = cols.reshape(C, KH, KW, N, OH, OW)
    # Accumulate in (C, N, H, W) order, the order of the rows of cols, so each kernel offset's slice is read
    # contiguously; one transpose at the end. (A third faster than adding into NCHW directly.)
    out = np.zeros((C, N, Hp, Wp), dtype=cols.dtype)
    for i in range(KH):
        for j in range(KW):
            out[:, :, i : i + stride * OH : stride, j : j + stride * OW : stride] += per_offset[:, i, j]
    if padding:
        out = out[:, :, padding : padding + H, padding : padding + W]
    return out.transpose(1, 0, 2, 3)  # (N, C, H, W), a view

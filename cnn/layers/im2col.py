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


def _strided(base: Array, shape: tuple[int, ...], strides: tuple[int, ...], writeable: bool) -> Array:
    """A view of `base` with the given shape and strides, counted from its first element.

    The ndarray constructor does what as_strided does in a fifth of the time (at batch 1 that matters); it needs a
    contiguous base, so anything else goes through as_strided.
    """
    if base.flags.c_contiguous:
        view = np.ndarray(shape, base.dtype, base, 0, strides)
        view.flags.writeable = writeable and base.flags.writeable
        return view
    return as_strided(base, shape, strides, writeable=writeable)


def windows(x: Array, KH: int, KW: int, stride: int) -> Array:
    """(N, C, H, W) -> a read-only strided view (N, C, OH, OW, KH, KW) of every window the kernel visits. No copy.

    The same view as numpy's sliding_window_view followed by [::stride], built directly: at batch 1 the Python
    overhead of sliding_window_view is a noticeable share of a whole layer.
    """
    N, C, H, W = x.shape
    sN, sC, sH, sW = x.strides
    OH, OW = (H - KH) // stride + 1, (W - KW) // stride + 1
    return _strided(x, (N, C, OH, OW, KH, KW), (sN, sC, sH * stride, sW * stride, sH, sW), writeable=False)


def im2col(x: Array, KH: int, KW: int, stride: int, padding: int) -> Array:
    """(N, C, H, W) -> cols (C·KH·KW, N·OH·OW); rows ordered (c, kh, kw), columns (n, oh, ow)."""
    win = windows(pad_spatial(x, padding), KH, KW, stride)  # (N, C, OH, OW, KH, KW)
    N, C, OH, OW = win.shape[:4]
    return win.transpose(1, 4, 5, 0, 2, 3).reshape(C * KH * KW, N * OH * OW)  # copies once


def fold_offsets(per_offset: Array, H: int, W: int, stride: int) -> Array:
    """(A, KH, KW, B, OH, OW) values, one per kernel offset and window -> (A, B, H, W), each value added into the
    cell its offset covers in its window: cell (kh + S·oh, kw + S·ow).

    Windows overlap, so cells receive several values. Rather than one slice-add per offset (KH·KW numpy calls, the
    cost of a whole batch-1 layer), every offset writes into its own zeroed (H, W) plane, skewed by (kh, kw) through
    the strides, and one sum over the offsets adds the planes: a copy and a reduction, whatever the kernel size.
    """
    A, KH, KW, B, OH, OW = per_offset.shape
    planes = np.zeros((A, KH, KW, B, H, W), dtype=per_offset.dtype)
    sA, sKH, sKW, sB, sH, sW = planes.strides
    # skewed[a, kh, kw, b, oh, ow] is planes[a, kh, kw, b, kh + S·oh, kw + S·ow]: stepping kh also steps one row.
    skewed = _strided(planes, per_offset.shape, (sA, sKH + sH, sKW + sW, sB, stride * sH, stride * sW), True)
    skewed[...] = per_offset
    return planes.sum(axis=(1, 2))


def fold_windows(win: Array, H: int, W: int, stride: int) -> Array:
    """Adjoint of `windows`: (N, C, OH, OW, KH, KW) -> (N, C, H, W), adding where windows overlap."""
    N, C, OH, OW, KH, KW = win.shape
    if stride == KH == KW and OH * KH == H and OW * KW == W:
        # Windows tile the input exactly (2×2 pooling, stride 2): folding is a reshape, no additions.
        return win.transpose(0, 1, 2, 4, 3, 5).reshape(N, C, H, W)
    per_offset = win.transpose(0, 1, 4, 5, 2, 3).reshape(N * C, KH, KW, 1, OH, OW)
    return fold_offsets(per_offset, H, W, stride).reshape(N, C, H, W)


def col2im(cols: Array, x_shape: tuple[int, ...], KH: int, KW: int, stride: int, padding: int) -> Array:
    """Adjoint of `im2col`: cols (C·KH·KW, N·OH·OW) -> (N, C, H, W), overlapping windows adding up."""
    N, C, H, W = x_shape
    Hp, Wp = H + 2 * padding, W + 2 * padding
    OH, OW = (Hp - KH) // stride + 1, (Wp - KW) // stride + 1
    # cols' rows are (c, kh, kw) and its columns (n, oh, ow): already the layout fold_offsets takes, as a view.
    out = fold_offsets(cols.reshape(C, KH, KW, N, OH, OW), Hp, Wp, stride)  # (C, N, Hp, Wp)
    if padding:
        out = out[:, :, padding : padding + H, padding : padding + W]
    return out.transpose(1, 0, 2, 3)  # (N, C, H, W), a view

"""Pooling (subsampling) layers: max-pooling with its routing (seed 000, seed 003) and mean-pooling (seed 002)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cnn.layers.base import Array, Layer, Shape, expect_rank, positive_int, sliding_output_size
from cnn.layers.im2col import fold_windows, windows


class _Pool2D(Layer):
    def __init__(self, size: int, stride: int | None = None) -> None:
        super().__init__()
        self.size = int(size)
        self.stride = int(stride) if stride is not None else self.size

    def config(self) -> dict[str, Any]:
        return {"size": self.size, "stride": self.stride}

    @classmethod
    def shape_rule(cls, input_shape: Shape, **config: Any) -> tuple[Shape, int]:
        expect_rank(input_shape, 3, cls.kind)
        C, H, W = input_shape
        size = positive_int(config["size"], "size", cls.kind)
        stride = size if config.get("stride") is None else positive_int(config["stride"], "stride", cls.kind)
        OH = sliding_output_size(H, size, stride, 0, f"{cls.kind} height")
        OW = sliding_output_size(W, size, stride, 0, f"{cls.kind} width")
        return (C, OH, OW), 0


class MaxPool2D(_Pool2D):
    """Max-pooling: x (N, C, H, W) -> (N, C, OH, OW), OH = (H − K)/S + 1; overlapping windows (K > S) allowed.

    The error of each output goes back to the input cell that held the maximum (the first one in row-major order
    on a tie, like the seed's `get_max_index`); `routing()` says which cell that was.
    """

    kind = "MaxPool2D"

    def __init__(self, size: int, stride: int | None = None) -> None:
        super().__init__(size, stride)
        self._layout_shape: Shape = ()
        self._layout: tuple[Array, Array] = (np.empty(0, np.intp), np.empty(0, np.intp))

    def _offset(self, a: Array, k: int, OH: int, OW: int) -> Array:
        """The (N, C, OH, OW) view of `a` at offset k = row·K + col inside every window."""
        i, j = divmod(k, self.size)
        S = self.stride
        return a[:, :, i : i + S * OH : S, j : j + S * OW : S]

    def forward(self, x: Array) -> Array:
        OH, OW = self.output_shape(x.shape[1:])[1:]
        views = [self._offset(x, k, OH, OW) for k in range(self.size * self.size)]  # no copies
        out = views[0].copy() if len(views) == 1 else np.maximum(views[0], views[1])
        for v in views[2:]:
            np.maximum(out, v, out=out)
        # The winning offset is the first one holding the maximum (the seed's tie rule): count the offsets before
        # it, i.e. how long the run of offsets that do not hold the maximum lasts. A few whole-array operations per
        # offset, and no argmax over a tiny trailing axis (numpy is slow at those).
        still_looking = views[0] != out
        argmax = still_looking.astype(np.uint8 if len(views) <= 256 else np.int32)
        for v in views[1:-1]:
            still_looking &= v != out
            argmax += still_looking
        self.cache = {"argmax": argmax, "x_shape": x.shape}
        return out

    def _flat_layout(self, x_shape: Shape) -> tuple[Array, Array]:
        """Flat indices into x: of each window's top-left cell (N, C, OH, OW), and the step from there to offset
        k = row·K + col (K·K,). Kept for the last input shape: passes repeat it, and a batch-size change is rare."""
        if self._layout_shape != x_shape:
            N, C, H, W = x_shape
            OH, OW = self.output_shape(x_shape[1:])[1:]
            K, S = self.size, self.stride
            maps = np.arange(N * C).reshape(N, C, 1, 1) * (H * W)
            corners = maps + np.arange(OH)[:, None] * (S * W) + np.arange(OW) * S
            steps = np.array([i * W + j for i in range(K) for j in range(K)])
            self._layout_shape, self._layout = x_shape, (corners, steps)
        return self._layout

    def backward(self, dout: Array) -> Array:
        """dout (N, C, OH, OW) -> dx (N, C, H, W): each error to its window's winner (added up where a cell wins
        several overlapping windows), zeros elsewhere."""
        argmax, x_shape = self.cache["argmax"], self.cache["x_shape"]
        # Where each winner sits in x, as a flat index: the error goes there in one scatter. Worked out here, not in
        # forward, so forward-only passes (live prediction, evaluation) do not pay for it.
        corners, steps = self._flat_layout(x_shape)
        winner = corners + steps[argmax]
        if self.stride >= self.size:
            # Windows do not overlap: each cell wins at most one window, so the errors are scattered, not added.
            dx = np.zeros(x_shape, dtype=dout.dtype)
            dx.reshape(-1)[winner.reshape(-1)] = dout.reshape(-1)
            return dx
        # Overlapping windows: a cell can win several, and their errors add up.
        size = math.prod(x_shape)
        summed = np.bincount(winner.reshape(-1), weights=dout.reshape(-1), minlength=size)  # always float64
        return summed.reshape(x_shape).astype(dout.dtype, copy=False)

    def routing(self) -> Array:
        """(N, C, OH, OW, 2): the (row, col) of the input cell each output took its maximum from."""
        argmax = self.cache["argmax"]
        OH, OW = argmax.shape[2:]
        row_in_window, col_in_window = np.divmod(argmax, self.size)
        out = np.empty((*argmax.shape, 2), dtype=np.intp)
        np.add(np.arange(0, OH * self.stride, self.stride)[:, None], row_in_window, out=out[..., 0])
        np.add(np.arange(0, OW * self.stride, self.stride), col_in_window, out=out[..., 1])
        return out

    def extras(self) -> dict[str, Array]:
        if "argmax" not in self.cache or self.training:  # the routing is for showing a pass; training skips it
            return {}
        if "routing" not in self.cache:  # once per forward: the trace asks after forward and again after backward
            self.cache["routing"] = self.routing()
        return {"routing": self.cache["routing"]}


class AvgPool2D(_Pool2D):
    """Mean-pooling: x (N, C, H, W) -> (N, C, OH, OW); backward spreads δ/(K·K) over each window (seed 002)."""

    kind = "AvgPool2D"

    def _windows(self, x: Array) -> Array:
        """(N, C, H, W) -> (N, C, OH, OW, K·K), each window flattened row-major; validates the shape."""
        N, C, OH, OW = (x.shape[0], *self.output_shape(x.shape[1:]))
        return windows(x, self.size, self.size, self.stride).reshape(N, C, OH, OW, self.size * self.size)

    def forward(self, x: Array) -> Array:
        self.cache = {"x_shape": x.shape}
        return self._windows(x).mean(axis=-1)

    def backward(self, dout: Array) -> Array:
        """dout (N, C, OH, OW) -> dx (N, C, H, W): each error shared equally by its window's K·K cells."""
        N, C, H, W = self.cache["x_shape"]
        K = self.size
        share = dout / (K * K)
        dwin = np.broadcast_to(share[..., None, None], (*dout.shape, K, K))
        return fold_windows(dwin, H, W, self.stride)


class GlobalAvgPool2D(Layer):
    """Global mean-pooling: x (N, C, H, W) -> (N, C, 1, 1), each map's mean (ONNX GlobalAveragePool, PyTorch's
    AdaptiveAvgPool2d(1)); backward shares each error equally over its map's H·W cells."""

    kind = "GlobalAvgPool2D"

    def forward(self, x: Array) -> Array:
        self.cache = {"x_shape": x.shape}
        return x.mean(axis=(2, 3), keepdims=True)

    def backward(self, dout: Array) -> Array:
        """dout (N, C, 1, 1) -> dx (N, C, H, W) = dout / (H·W) in every cell."""
        N, C, H, W = self.cache["x_shape"]
        return np.broadcast_to(dout / (H * W), (N, C, H, W)).copy()

    @classmethod
    def shape_rule(cls, input_shape: Shape, **config: Any) -> tuple[Shape, int]:
        expect_rank(input_shape, 3, cls.kind)
        return (input_shape[0], 1, 1), 0

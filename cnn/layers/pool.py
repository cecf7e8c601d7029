"""Pooling (subsampling) layers: max-pooling with its routing (seed 000, seed 003) and mean-pooling (seed 002)."""

from __future__ import annotations

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

    def _offset(self, a: Array, k: int, OH: int, OW: int) -> Array:
        """The (N, C, OH, OW) view of `a` at offset k = row·K + col inside every window."""
        i, j = divmod(k, self.size)
        S = self.stride
        return a[:, :, i : i + S * OH : S, j : j + S * OW : S]

    def forward(self, x: Array) -> Array:
        OH, OW = self.output_shape(x.shape[1:])[1:]
        K = self.size
        # A running maximum over the K·K window offsets, each a strided view: no copy of the windows. argmax holds
        # the winning offset; a strict > keeps the first maximum on a tie.
        out = self._offset(x, 0, OH, OW).copy()
        argmax = np.zeros(out.shape, dtype=np.uint8 if K * K <= 256 else np.int32)
        for k in range(1, K * K):
            v = self._offset(x, k, OH, OW)
            better = v > out
            argmax += better * (k - argmax)  # a branch-free select: np.where is many times slower here
            np.maximum(out, v, out=out)
        self.cache = {"argmax": argmax, "x_shape": x.shape}
        return out

    def backward(self, dout: Array, input_grad: bool = True) -> Array | None:
        if not input_grad:
            return None
        argmax = self.cache["argmax"]
        OH, OW = argmax.shape[2:]
        K, S = self.size, self.stride
        dx = np.zeros(self.cache["x_shape"], dtype=dout.dtype)
        tiles = S == K and OH * K == dx.shape[2] and OW * K == dx.shape[3]
        for k in range(K * K):
            routed = dout * (argmax == k)  # each output's error, where offset k won its window
            if tiles:  # every input cell is in exactly one window: assign
                self._offset(dx, k, OH, OW)[...] = routed
            else:  # overlapping windows: a cell can win several, and their errors add up
                self._offset(dx, k, OH, OW)[...] += routed
        return dx

    def routing(self) -> Array:
        """(N, C, OH, OW, 2): the (row, col) of the input cell each output took its maximum from."""
        argmax = self.cache["argmax"].astype(np.intp)
        OH, OW = argmax.shape[2:]
        rows = np.arange(OH)[:, None] * self.stride + argmax // self.size
        cols = np.arange(OW)[None, :] * self.stride + argmax % self.size
        return np.stack([rows, cols], axis=-1)

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

    def backward(self, dout: Array, input_grad: bool = True) -> Array | None:
        if not input_grad:
            return None
        N, C, H, W = self.cache["x_shape"]
        K = self.size
        share = dout / (K * K)
        dwin = np.broadcast_to(share[..., None, None], (*dout.shape, K, K))
        return fold_windows(dwin, H, W, self.stride)

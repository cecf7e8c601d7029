"""Zero padding (or cropping) of the maps, on each side by its own amount."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnn.errors import ShapeError
from cnn.layers.base import Array, Layer, Shape, expect_rank


def _four_ints(value: Any) -> tuple[int, int, int, int]:
    if (not isinstance(value, list | tuple) or len(value) != 4
            or not all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in value)):
        raise ShapeError(f"ZeroPad2D padding must be four whole numbers (left, right, top, bottom), got {value!r}")
    left, right, top, bottom = (int(v) for v in value)
    return left, right, top, bottom


class ZeroPad2D(Layer):
    """x (N, C, H, W) -> (N, C, top + H + bottom, left + W + right), zeros around each map (PyTorch's ZeroPad2d).

    A negative amount crops that side instead. Conv2D pads the same amount on every side; this layer carries what it
    cannot: an ONNX convolution padded unevenly (auto_pad SAME with an even kernel), or input rows a stride never
    reaches, which ONNX drops silently and our Conv2D would refuse.
    """

    kind = "ZeroPad2D"

    def __init__(self, padding: tuple[int, int, int, int] | list[int]) -> None:
        super().__init__()
        self.padding = _four_ints(padding)

    def forward(self, x: Array) -> Array:
        left, right, top, bottom = self.padding
        N, C, H, W = x.shape
        self.cache = {"x_shape": x.shape}
        out = np.zeros((N, C, H + top + bottom, W + left + right), dtype=x.dtype)
        out[:, :, max(top, 0) : max(top, 0) + H + min(top, 0) + min(bottom, 0),
            max(left, 0) : max(left, 0) + W + min(left, 0) + min(right, 0)] = self._kept(x)
        return out

    def _kept(self, a: Array) -> Array:
        """The part of an input-shaped array that survives cropping: (N, C, H, W) -> (N, C, H', W')."""
        left, right, top, bottom = self.padding
        H, W = a.shape[2:]
        return a[:, :, max(-top, 0) : H - max(-bottom, 0), max(-left, 0) : W - max(-right, 0)]

    def backward(self, dout: Array) -> Array:
        """dout (N, C, OH, OW) -> dx (N, C, H, W): the errors of the cells x landed on; zeros where it was cropped."""
        left, right, top, bottom = self.padding
        dx = np.zeros(self.cache["x_shape"], dtype=dout.dtype)
        OH, OW = dout.shape[2:]
        self._kept(dx)[...] = dout[:, :, max(top, 0) : OH - max(bottom, 0), max(left, 0) : OW - max(right, 0)]
        return dx

    def config(self) -> dict[str, Any]:
        return {"padding": list(self.padding)}

    @classmethod
    def shape_rule(cls, input_shape: Shape, **config: Any) -> tuple[Shape, int]:
        expect_rank(input_shape, 3, "ZeroPad2D")
        left, right, top, bottom = _four_ints(config["padding"])
        C, H, W = input_shape
        OH, OW = H + top + bottom, W + left + right
        if min(H + min(top, 0) + min(bottom, 0), W + min(left, 0) + min(right, 0)) < 1:
            raise ShapeError(f"ZeroPad2D padding {[left, right, top, bottom]} crops all of its input {input_shape}")
        return (C, OH, OW), 0

"""The convolution layer (seed 000 forward and backward, vectorised through im2col as in seeds 001 and 003)."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnn.errors import ShapeError
from cnn.layers.base import Array, Layer, Shape, expect_rank, he_normal, positive_int, sliding_output_size
from cnn.layers.im2col import col2im, im2col


def _pair(value: int | tuple[int, int] | list[int], what: str) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    if len(value) != 2:
        raise ShapeError(f"{what} must be an integer or a pair of integers, got {value!r}")
    return int(value[0]), int(value[1])


class Conv2D(Layer):
    """2-D cross-correlation through im2col.

    x (N, C, H, W) -> net (N, F, OH, OW), OH = (H + 2P − KH)/S + 1 (an integer, or a ShapeError).
    Params: W (F, C, KH, KW), b (F,). The output is the weighted input `net`; the activation is its own layer, so
    the gradient handed to `backward` is the seeds' sensitivity map δ = ∂E/∂net.
    """

    kind = "Conv2D"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int = 1,
        padding: int = 0,
        *,
        rng: np.random.Generator | None = None,
        dtype: Any = np.float64,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride, self.padding = int(stride), int(padding)
        KH, KW = self.kernel_size
        fan_in = self.in_channels * KH * KW
        self.params["W"] = he_normal(rng, (self.out_channels, self.in_channels, KH, KW), fan_in, np.dtype(dtype))
        self.params["b"] = np.zeros(self.out_channels, dtype=dtype)

    def forward(self, x: Array) -> Array:
        W, b = self.params["W"], self.params["b"]
        F, _, KH, KW = W.shape
        N = x.shape[0]
        OH, OW = self.output_shape(x.shape[1:])[1:]
        cols = im2col(x, KH, KW, self.stride, self.padding)  # (C·KH·KW, N·OH·OW)
        out = W.reshape(F, -1) @ cols  # (F, N·OH·OW)
        out += b[:, None]  # in place: no second array of the output's size
        self.cache = {"x_shape": x.shape, "cols": cols}
        return out.reshape(F, N, OH, OW).transpose(1, 0, 2, 3)  # (N, F, OH, OW)

    def backward(self, dout: Array) -> Array:
        """dout (N, F, OH, OW) -> dx (N, C, H, W); grads W (F, C, KH, KW), b (F,)."""
        W = self.params["W"]
        F, _, KH, KW = W.shape
        delta = self._param_grads(dout)  # (F, N·OH·OW)
        # ∂E/∂x: δ spread back through the windows it came from. This is the seed's "expand δ for the stride,
        # pad it, convolve with the kernel rotated 180°" (see cnn.reference), done as im2col's adjoint.
        dcols = W.reshape(F, -1).T @ delta  # (C·KH·KW, N·OH·OW)
        return col2im(dcols, self.cache["x_shape"], KH, KW, self.stride, self.padding)

    def backward_params(self, dout: Array) -> None:
        """dout (N, F, OH, OW) -> None; grads W (F, C, KH, KW), b (F,), without dx: no Wᵀδ product, no col2im."""
        self._param_grads(dout)

    def _param_grads(self, dout: Array) -> Array:
        """dout (N, F, OH, OW) -> delta (F, N·OH·OW), the layout both products take; fills self.grads."""
        W = self.params["W"]
        F = W.shape[0]
        delta = dout.transpose(1, 0, 2, 3).reshape(F, -1)  # (F, N·OH·OW)
        # ∂E/∂W = input ⋆ δ (seed 000 bp_gradient), ∂E/∂b = Σ δ.
        self.grads["W"] = (delta @ self.cache["cols"].T).reshape(W.shape)  # (F, C·KH·KW)
        self.grads["b"] = delta.sum(axis=1)
        return delta

    def config(self) -> dict[str, Any]:
        KH, KW = self.kernel_size
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": KH if KH == KW else [KH, KW],
            "stride": self.stride,
            "padding": self.padding,
        }

    @classmethod
    def shape_rule(cls, input_shape: Shape, **config: Any) -> tuple[Shape, int]:
        expect_rank(input_shape, 3, "Conv2D")
        C, H, W = input_shape
        if C != config["in_channels"]:
            raise ShapeError(f"Conv2D expects {config['in_channels']} input channels, got {C} (input {input_shape})")
        KH, KW = (positive_int(k, "kernel_size", "Conv2D") for k in _pair(config["kernel_size"], "kernel_size"))
        stride = positive_int(config.get("stride", 1), "stride", "Conv2D")
        padding = positive_int(config.get("padding", 0), "padding", "Conv2D", minimum=0)
        positive_int(config["in_channels"], "in_channels", "Conv2D")
        OH = sliding_output_size(H, KH, stride, padding, "Conv2D height")
        OW = sliding_output_size(W, KW, stride, padding, "Conv2D width")
        F = positive_int(config["out_channels"], "out_channels", "Conv2D")
        return (F, OH, OW), F * C * KH * KW + F

    @classmethod
    def complete_config(cls, config: dict[str, Any], input_shape: Shape) -> dict[str, Any]:
        expect_rank(input_shape, 3, "Conv2D")
        return {"in_channels": input_shape[0], **config}

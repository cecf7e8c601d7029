"""Batch normalization as inference computes it: its statistics folded into one scale and one shift per channel."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnn.errors import ShapeError
from cnn.layers.base import Array, Layer, Shape, positive_int


class BatchNorm(Layer):
    """x (N, C, H, W) or (N, C) -> out of the same shape, out = x·scale[c] + shift[c] for channel (feature) c.

    A trained batch-norm layer at inference is γ·(x − μ)/√(σ² + ε) + β with its running μ and σ²: one affine map per
    channel, scale = γ/√(σ² + ε), shift = β − μ·scale. Those two are the parameters, so the layer's whole state is
    in `params` (a saved model keeps it) and training moves them as it moves any weight. Batch statistics are never
    used, in training either: the statistics stay the ones the model was trained with, as when fine-tuning with
    frozen batch norm. Params: scale (C,), shift (C,).
    """

    kind = "BatchNorm"

    def __init__(self, num_features: int, *, dtype: Any = np.float64) -> None:
        super().__init__()
        self.num_features = int(num_features)
        self.params["scale"] = np.ones(self.num_features, dtype=dtype)
        self.params["shift"] = np.zeros(self.num_features, dtype=dtype)

    def _per_channel(self, v: Array, ndim: int) -> Array:
        """(C,) -> (C, 1, 1) for maps, (C,) for features: broadcastable against one example."""
        return v.reshape(-1, *([1] * (ndim - 2)))

    def forward(self, x: Array) -> Array:
        self.cache = {"x": x}
        scale, shift = (self._per_channel(self.params[k], x.ndim) for k in ("scale", "shift"))
        return x * scale + shift

    def backward(self, dout: Array) -> Array:
        """dout (N, C, …) -> dx (N, C, …) = dout·scale; grads scale (C,) = Σ dout·x, shift (C,) = Σ dout, summed
        over the batch and the positions."""
        x = self.cache["x"]
        others = (0, *range(2, x.ndim))  # every axis but the channel's
        self.grads["scale"] = (dout * x).sum(axis=others)
        self.grads["shift"] = dout.sum(axis=others)
        return dout * self._per_channel(self.params["scale"], x.ndim)

    def config(self) -> dict[str, Any]:
        return {"num_features": self.num_features}

    @classmethod
    def shape_rule(cls, input_shape: Shape, **config: Any) -> tuple[Shape, int]:
        C = positive_int(config["num_features"], "num_features", "BatchNorm")
        if len(input_shape) not in (1, 3) or input_shape[0] != C:
            raise ShapeError(f"BatchNorm over {C} channels expects an input (C, H, W) or (C,) with C = {C}, got "
                             f"{tuple(input_shape)}")
        return tuple(input_shape), 2 * C

    @classmethod
    def complete_config(cls, config: dict[str, Any], input_shape: Shape) -> dict[str, Any]:
        if not input_shape:
            raise ShapeError("BatchNorm needs an input with a channel axis")
        return {"num_features": input_shape[0], **config}

"""Fully connected layers and the reshaping and regularising layers around them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cnn.errors import ShapeError
from cnn.layers.base import Array, Layer, Shape, he_normal, positive_int


class Dense(Layer):
    """Fully connected: x (N, D) -> net (N, K) = x Wᵀ + b.

    Params: W (K, D) (PyTorch's layout, so ∂E/∂W = δ·xᵀ reads as in seed 002), b (K,).
    """

    kind = "Dense"

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        rng: np.random.Generator | None = None,
        dtype: Any = np.float64,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        D, K = self.in_features, self.out_features
        self.params["W"] = he_normal(rng, (K, D), D, np.dtype(dtype))
        self.params["b"] = np.zeros(K, dtype=dtype)

    def forward(self, x: Array) -> Array:
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ShapeError(f"Dense expects input (N, {self.in_features}), got {x.shape}")
        self.cache = {"x": x}
        return x @ self.params["W"].T + self.params["b"]  # (N, K)

    def backward(self, dout: Array) -> Array:
        """dout (N, K) -> dx (N, D); grads W (K, D), b (K,)."""
        self._param_grads(dout)
        return dout @ self.params["W"]  # (N, K) @ (K, D): Wᵀδ per example

    def backward_params(self, dout: Array) -> None:
        """dout (N, K) -> None; grads W (K, D), b (K,), without dx (no Wᵀδ product)."""
        self._param_grads(dout)

    def _param_grads(self, dout: Array) -> None:
        x = self.cache["x"]
        if x.shape[0] == 1:  # one example: ∂E/∂W = δ·xᵀ exactly, and a broadcast product is 2-3× faster than gemm
            self.grads["W"] = dout.T * x  # (K, 1) * (1, D)
        else:
            self.grads["W"] = dout.T @ x  # (K, N) @ (N, D): Σ over the batch of δ·xᵀ
        self.grads["b"] = dout.sum(axis=0)

    def config(self) -> dict[str, Any]:
        return {"in_features": self.in_features, "out_features": self.out_features}

    @classmethod
    def shape_rule(cls, input_shape: Shape, **config: Any) -> tuple[Shape, int]:
        D = positive_int(config["in_features"], "in_features", "Dense")
        K = positive_int(config["out_features"], "out_features", "Dense")
        if len(input_shape) != 1:
            raise ShapeError(
                f"Dense expects a flat input (D,), got {tuple(input_shape)}; put a Flatten layer before it"
            )
        if input_shape[0] != D:
            raise ShapeError(f"Dense has in_features={D} but its input has {input_shape[0]} features")
        return (K,), K * D + K

    @classmethod
    def complete_config(cls, config: dict[str, Any], input_shape: Shape) -> dict[str, Any]:
        if len(input_shape) != 1:
            raise ShapeError(
                f"Dense expects a flat input (D,), got {tuple(input_shape)}; put a Flatten layer before it"
            )
        return {"in_features": input_shape[0], **config}


class Flatten(Layer):
    """x (N, C, H, W) -> (N, C·H·W), in C order (channel, row, column)."""

    kind = "Flatten"

    def forward(self, x: Array) -> Array:
        self.cache = {"x_shape": x.shape}
        return x.reshape(x.shape[0], -1)

    def backward(self, dout: Array) -> Array:
        """dout (N, C·H·W) -> dx (N, C, H, W)."""
        return dout.reshape(self.cache["x_shape"])

    @classmethod
    def shape_rule(cls, input_shape: Shape, **config: Any) -> tuple[Shape, int]:
        return (math.prod(input_shape),), 0


class Dropout(Layer):
    """Inverted dropout: in training, each unit is kept with probability 1 − p and scaled by 1/(1 − p); in
    evaluation it is the identity. The mask is kept from forward for backward (seed 003)."""

    kind = "Dropout"

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ShapeError(f"Dropout probability must be in [0, 1), got {p}")
        self.p = float(p)
        self.rng = rng if rng is not None else np.random.default_rng()

    def forward(self, x: Array) -> Array:
        if not self.training or self.p == 0.0:
            self.cache = {"mask": None}
            return x
        mask = (self.rng.random(x.shape) >= self.p).astype(x.dtype) / (1.0 - self.p)
        self.cache = {"mask": mask}
        return x * mask

    def backward(self, dout: Array) -> Array:
        """dout (N, *shape) -> dx (N, *shape): the kept units' errors, scaled as in forward."""
        mask = self.cache["mask"]
        return dout if mask is None else dout * mask

    def config(self) -> dict[str, Any]:
        return {"p": self.p}

    @classmethod
    def shape_rule(cls, input_shape: Shape, **config: Any) -> tuple[Shape, int]:
        p = config.get("p", 0.5)
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p < 1.0:
            raise ShapeError(f"Dropout probability p must be a number in [0, 1), got {p!r}")
        return tuple(input_shape), 0

    def extras(self) -> dict[str, Array]:
        mask = self.cache.get("mask")
        return {"mask": mask} if mask is not None else {}

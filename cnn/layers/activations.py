"""Activations as layers of their own, so both the weighted input net and the output f(net) stay visible, and so do
∂E/∂net (the sensitivity map δ) and ∂E/∂out. Backward is δ = ∂E/∂out ⊙ f′(net) (seed 000, seed 002)."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnn.errors import ShapeError
from cnn.layers.base import Array, Layer, Shape


class ReLU(Layer):
    """out = max(0, net); f′(net) = 1 where net > 0, else 0 (the seed's ReluActivator)."""

    kind = "ReLU"

    def forward(self, x: Array) -> Array:
        self.cache = {"x": x}
        return np.maximum(x, 0)

    def backward(self, dout: Array) -> Array:
        """dout (N, *shape) -> dx (N, *shape) = dout ⊙ [net > 0]."""
        return dout * (self.cache["x"] > 0)


class LeakyReLU(Layer):
    """out = net where net > 0, else negative_slope·net; f′ = 1 or negative_slope (PyTorch's nn.LeakyReLU)."""

    kind = "LeakyReLU"

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x: Array) -> Array:
        self.cache = {"x": x}
        return np.where(x > 0, x, self.negative_slope * x)

    def backward(self, dout: Array) -> Array:
        """dout (N, *shape) -> dx (N, *shape) = dout ⊙ (1 where net > 0, else negative_slope)."""
        return np.where(self.cache["x"] > 0, dout, self.negative_slope * dout)

    def config(self) -> dict[str, Any]:
        return {"negative_slope": self.negative_slope}

    @classmethod
    def shape_rule(cls, input_shape: Shape, **config: Any) -> tuple[Shape, int]:
        slope = config.get("negative_slope", 0.01)
        if isinstance(slope, bool) or not isinstance(slope, int | float) or not np.isfinite(slope):
            raise ShapeError(f"LeakyReLU negative_slope must be a finite number, got {slope!r}")
        return tuple(input_shape), 0


class Sigmoid(Layer):
    """out = 1/(1 + e^(−net)); f′ = out·(1 − out), written through the output as in seeds 000 and 002."""

    kind = "Sigmoid"

    def forward(self, x: Array) -> Array:
        # 0.5·(1 + tanh(x/2)) is the logistic function without overflow for large negative x.
        out = 0.5 * (1.0 + np.tanh(0.5 * x))
        self.cache = {"out": out}
        return out

    def backward(self, dout: Array) -> Array:
        """dout (N, *shape) -> dx (N, *shape) = dout ⊙ out ⊙ (1 − out)."""
        out = self.cache["out"]
        return dout * out * (1.0 - out)


class Tanh(Layer):
    """out = tanh(net); f′ = 1 − out²."""

    kind = "Tanh"

    def forward(self, x: Array) -> Array:
        out = np.tanh(x)
        self.cache = {"out": out}
        return out

    def backward(self, dout: Array) -> Array:
        """dout (N, *shape) -> dx (N, *shape) = dout ⊙ (1 − out²)."""
        return dout * (1.0 - self.cache["out"] ** 2)


class Identity(Layer):
    """out = net; f′ = 1 (the seed's IdentityActivator, used by its worked example)."""

    kind = "Identity"

    def forward(self, x: Array) -> Array:
        return x

    def backward(self, dout: Array) -> Array:
        """dout (N, *shape) -> dx = dout."""
        return dout

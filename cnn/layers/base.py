"""The Layer contract every layer follows.

`forward(x)` keeps in `self.cache` exactly what `backward` needs; `backward(dout)` takes ∂L/∂out, fills
`self.grads` (same keys as `self.params`) and always returns ∂L/∂x. `backward_params(dout)` fills `self.grads` only:
training's path for the first layer, whose ∂L/∂x nobody reads. Shapes can be worked out without any weights through
`shape_rule`, so a summary of a large network (VGG16) allocates nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from cnn.errors import ShapeError

Array = NDArray[Any]
Shape = tuple[int, ...]


class Layer(ABC):
    """Base class: parameters, their gradients, the forward cache, and the train/eval switch."""

    kind: ClassVar[str] = "Layer"

    def __init__(self) -> None:
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}
        self.cache: dict[str, Any] = {}
        self.training = False
        self._output_shapes: dict[Shape, Shape] = {}

    @abstractmethod
    def forward(self, x: Array) -> Array:
        """x (N, *in_shape) -> out (N, *out_shape); keeps in self.cache what backward needs."""

    @abstractmethod
    def backward(self, dout: Array) -> Array:
        """dout ∂L/∂out (N, *out_shape) -> dx ∂L/∂x (N, *in_shape); fills self.grads (same keys as self.params)."""

    def backward_params(self, dout: Array) -> None:
        """dout ∂L/∂out (N, *out_shape) -> None; fills self.grads only, as backward does.

        Training's path for the first layer, whose ∂L/∂x nobody reads. This default runs backward and drops dx; a
        layer where skipping dx saves real work (Conv2D's col2im, Dense's matrix product) overrides it.
        """
        self.backward(dout)

    def config(self) -> dict[str, Any]:
        """The constructor arguments as JSON-able data (the layer's entry in a spec, without `type`)."""
        return {}

    def extras(self) -> dict[str, Array]:
        """Arrays worth showing besides input and output: max-pool routing, the dropout mask, …"""
        return {}

    def output_shape(self, input_shape: Shape) -> Shape:
        """The output shape for one example, checked by shape_rule once per input shape and then remembered: a
        layer's configuration does not change, and at batch 1 the checks cost as much as the arithmetic."""
        key = tuple(input_shape)
        known = self._output_shapes.get(key)
        if known is None:
            known = self._output_shapes[key] = type(self).shape_rule(key, **self.config())[0]
        return known

    @classmethod
    def shape_rule(cls, input_shape: Shape, **config: Any) -> tuple[Shape, int]:
        """(input shape without batch, config) -> (output shape without batch, parameter count). Allocates nothing."""
        return tuple(input_shape), 0

    @classmethod
    def complete_config(cls, config: dict[str, Any], input_shape: Shape) -> dict[str, Any]:
        """Fill in what a spec may leave out because the input shape implies it (in_channels, in_features)."""
        return dict(config)


def sliding_output_size(size: int, kernel: int, stride: int, padding: int, what: str) -> int:
    """The seeds' rule (W − F + 2P)/S + 1, refusing a stride that does not fit (seed 001: W=10, F=3, P=0, S=2 → 4.5)."""
    if kernel < 1 or stride < 1 or padding < 0:
        raise ShapeError(f"{what}: kernel {kernel} and stride {stride} must be ≥ 1 and padding {padding} ≥ 0")
    span = size + 2 * padding - kernel
    if span < 0:
        raise ShapeError(
            f"{what}: kernel {kernel} is larger than its padded input {size} + 2·{padding} = {size + 2 * padding}"
        )
    if span % stride:
        raise ShapeError(
            f"{what}: stride {stride} does not fit: (W − F + 2P)/S + 1 = ({size} − {kernel} + 2·{padding})/{stride} + 1"
            f" = {span / stride + 1:g} is not an integer"
        )
    return span // stride + 1


def positive_int(value: Any, name: str, what: str, minimum: int = 1) -> int:
    """A size from a spec: a whole number (not a bool, not 6.5) of at least `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ShapeError(f"{what}: {name} must be a whole number ≥ {minimum}, got {value!r}")
    return int(value)


def expect_rank(input_shape: Shape, rank: int, what: str) -> None:
    if len(input_shape) != rank:
        names = {3: "(C, H, W)", 1: "(D,)"}.get(rank, f"{rank} axes")
        raise ShapeError(f"{what} expects an input of shape {names} per example, got {tuple(input_shape)}")


def he_normal(rng: np.random.Generator | None, shape: Shape, fan_in: int, dtype: np.dtype[Any]) -> Array:
    """He initialisation, N(0, 2/fan_in): keeps activations' variance steady through ReLU layers."""
    rng = rng if rng is not None else np.random.default_rng()
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)

"""Seed 000's `Filter` and `ConvLayer`, same constructors and methods, on the functions of conv.py."""

import numpy as np
from numpy.typing import ArrayLike

from cnn.errors import ShapeError
from cnn.reference.activators import Activator, activation_backward
from cnn.reference.array import Array
from cnn.reference.conv import (
    conv_bp_gradient,
    conv_bp_sensitivity_map,
    conv_forward,
    expand_sensitivity_map,
    output_size,
)


class Filter:
    """One filter, weights (C, KH, KW) and a scalar bias, with their gradients (seed 000 `Filter`).

    Weights start uniform in [−1e-4, 1e-4) drawn from `rng` (a fresh unseeded generator when None).
    """

    def __init__(self, width: int, height: int, depth: int, rng: np.random.Generator | None = None) -> None:
        rng = np.random.default_rng() if rng is None else rng
        self.weights: Array = rng.uniform(-1e-4, 1e-4, (depth, height, width))
        self.bias: float = 0.0
        self.weights_grad: Array = np.zeros(self.weights.shape)
        self.bias_grad: float = 0.0

    def __repr__(self) -> str:
        return f"filter weights:\n{self.weights!r}\nbias:\n{self.bias!r}"

    def get_weights(self) -> Array:
        return self.weights

    def get_bias(self) -> float:
        return self.bias

    def update(self, learning_rate: float) -> None:
        """w -= λ·∂E/∂w, b -= λ·∂E/∂b (seed 000: gradient descent)."""
        self.weights -= learning_rate * self.weights_grad
        self.bias -= learning_rate * self.bias_grad


class ConvLayer:
    """input (C, H, W) -> output_array (F, OH, OW): seed 000's `ConvLayer`, on the functions of conv.py.

    Same constructor and methods as the seed, so its `test()` replays verbatim; `rng` feeds the filters' init.
    """

    def __init__(
        self,
        input_width: int,
        input_height: int,
        channel_number: int,
        filter_width: int,
        filter_height: int,
        filter_number: int,
        zero_padding: int,
        stride: int,
        activator: Activator,
        learning_rate: float,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.input_width = input_width
        self.input_height = input_height
        self.channel_number = channel_number
        self.filter_width = filter_width
        self.filter_height = filter_height
        self.filter_number = filter_number
        self.zero_padding = zero_padding
        self.stride = stride
        self.output_width = output_size(input_width, filter_width, zero_padding, stride)
        self.output_height = output_size(input_height, filter_height, zero_padding, stride)
        self.output_array: Array = np.zeros((filter_number, self.output_height, self.output_width))
        self.filters: list[Filter] = []
        for _ in range(filter_number):
            self.filters.append(Filter(filter_width, filter_height, channel_number, rng))
        self.activator = activator
        self.learning_rate = learning_rate

    @staticmethod
    def calculate_output_size(input_size: int, filter_size: int, zero_padding: int, stride: int) -> int:
        return output_size(input_size, filter_size, zero_padding, stride)

    def weights(self) -> Array:
        """The filters' weights stacked, (F, C, KH, KW)."""
        return np.stack([filt.get_weights() for filt in self.filters]).astype(np.float64)

    def forward(self, input_array: ArrayLike) -> None:
        """input (C, H, W) -> self.output_array (F, OH, OW) = activator(conv + bias); int arrays welcome."""
        expected = (self.channel_number, self.input_height, self.input_width)
        if np.shape(input_array) != expected:
            raise ShapeError(f"ConvLayer expects an input of shape {expected}, got {np.shape(input_array)}")
        self.input_array: Array = np.asarray(input_array, dtype=np.float64)
        biases = np.array([filt.get_bias() for filt in self.filters], dtype=np.float64)
        net = conv_forward(self.input_array, self.weights(), biases, self.stride, self.zero_padding)
        self.output_array = self.activator.forward(net)

    def backward(self, input_array: ArrayLike, sensitivity_array: ArrayLike, activator: Activator) -> None:
        """δ (F, OH, OW) -> self.delta_array (C, H, W) and each filter's gradients (seed 000's order).

        `activator` is the layer below's: the seed multiplies the passed-down error by its derivative.
        """
        self.forward(input_array)
        self.bp_sensitivity_map(np.asarray(sensitivity_array, dtype=np.float64), activator)
        self.bp_gradient(np.asarray(sensitivity_array, dtype=np.float64))

    def expand_sensitivity_map(self, sensitivity_array: Array) -> Array:
        return expand_sensitivity_map(sensitivity_array, self.stride)

    def create_delta_array(self) -> Array:
        return np.zeros((self.channel_number, self.input_height, self.input_width))

    def bp_sensitivity_map(self, sensitivity_array: Array, activator: Activator) -> None:
        """δ (F, OH, OW) -> self.delta_array (C, H, W): the layer below's δ, its activation included."""
        delta_input = conv_bp_sensitivity_map(
            self.input_array, self.weights(), sensitivity_array, self.stride, self.zero_padding
        )
        self.delta_array = activation_backward(delta_input, self.input_array, activator)

    def bp_gradient(self, sensitivity_array: Array) -> None:
        """δ (F, OH, OW) -> each filter's weights_grad (C, KH, KW) and bias_grad."""
        weights_grad, bias_grad = conv_bp_gradient(
            self.input_array, self.weights(), sensitivity_array, self.stride, self.zero_padding
        )
        for f in range(self.filter_number):
            self.filters[f].weights_grad = weights_grad[f]
            self.filters[f].bias_grad = float(bias_grad[f])

    def update(self) -> None:
        """Gradient descent on every filter (seed 000 `update`)."""
        for filt in self.filters:
            filt.update(self.learning_rate)

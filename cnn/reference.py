"""The loop-based reference CNN: seed 000's hand-written numpy network, written to be read, not fast.

One example at a time in (C, H, W) layout, float64, explicit loops over output positions, the seed's names.
It is the oracle the vectorized NCHW layers in cnn/layers/ are tested against, so it is right for every
stride, zero padding and kernel for which (H − KH + 2P)/S + 1 is an integer, P > K − 1 and non-square
shapes included.

Vocabulary (seed 000): `conv` is cross-correlation (the kernel is not flipped), as in the seed; the
sensitivity map δ = ∂E/∂net is the error with respect to a layer's weighted input. The backward functions
return ∂E/∂x without any activation derivative, since activations are separate layers in this engine;
`activation_backward` is the seed's last multiplication, kept apart.
"""

from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from cnn.errors import ShapeError

Array = NDArray[np.float64]


def output_size(input_size: int, filter_size: int, zero_padding: int, stride: int) -> int:
    """(W, F, P, S) -> (W − F + 2P)/S + 1: the output size rule (seed 000 `calculate_output_size`, seed 001).

    Raises ShapeError (a ValueError) with the numbers when S does not divide W − F + 2P: seed 001's
    W=10, F=3, P=0, S=2 gives 4.5, which no arrangement of windows can produce.
    """
    if stride < 1 or filter_size < 1 or zero_padding < 0:
        raise ShapeError(
            f"filter size {filter_size} and stride {stride} must be ≥ 1 and zero padding {zero_padding} ≥ 0"
        )
    span = input_size - filter_size + 2 * zero_padding
    if span < 0:
        raise ShapeError(
            f"a filter of size {filter_size} does not fit an input of size {input_size} with zero padding "
            f"{zero_padding}: W − F + 2P = {input_size} − {filter_size} + 2·{zero_padding} = {span} < 0"
        )
    if span % stride != 0:
        raise ShapeError(
            f"(W − F + 2P)/S + 1 = ({input_size} − {filter_size} + 2·{zero_padding})/{stride} + 1 = "
            f"{span / stride + 1:g} is not an integer: use a stride that divides {span} or change the padding"
        )
    return span // stride + 1


def padding(input_array: Array, zp: int | tuple[int, int]) -> Array:
    """(H, W) -> (H + 2·zp, W + 2·zp), or (C, H, W) -> (C, H + 2·zp, W + 2·zp) (seed 000 `padding`).

    `zp` may be a pair (rows, columns): the backward pass's full convolution pads by KH − 1 rows and
    KW − 1 columns, which differ for a non-square kernel. Always a new float64 array (the seed returns its
    input when zp is 0; a copy keeps callers from writing into it).
    """
    zp_h, zp_w = (zp, zp) if isinstance(zp, int) else zp
    if input_array.ndim not in (2, 3):
        raise ShapeError(f"padding takes a 2-D (H, W) or 3-D (C, H, W) array, got shape {input_array.shape}")
    if zp_h < 0 or zp_w < 0:
        raise ShapeError(f"zero padding must be ≥ 0, got {zp}")
    input_height, input_width = input_array.shape[-2:]
    padded_array = np.zeros(input_array.shape[:-2] + (input_height + 2 * zp_h, input_width + 2 * zp_w))
    padded_array[..., zp_h : zp_h + input_height, zp_w : zp_w + input_width] = input_array
    return padded_array


def get_patch(
    input_array: Array,
    i: int,
    j: int,
    filter_width: int,
    filter_height: int,
    stride: int,
) -> Array:
    """(H, W) -> (KH, KW), or (C, H, W) -> (C, KH, KW): the window under output (i, j) (seed 000).

    A view, starting at row i·S and column j·S.
    """
    if input_array.ndim not in (2, 3):
        raise ShapeError(f"get_patch takes a 2-D (H, W) or 3-D (C, H, W) array, got {input_array.shape}")
    start_i = i * stride
    start_j = j * stride
    return input_array[..., start_i : start_i + filter_height, start_j : start_j + filter_width]


def conv(input_array: Array, kernel_array: Array, output_array: Array, stride: int, bias: float) -> None:
    """(C, H, W) ⋆ (C, KH, KW), or (H, W) ⋆ (KH, KW) -> output_array (OH, OW), in place (seed 000 `conv`).

    output_array[i, j] = Σ get_patch(input, i, j) · kernel + bias: cross-correlation, summed over channels
    too when the arrays are 3-D. The output's shape decides how many windows are taken.
    """
    output_height, output_width = output_array.shape
    kernel_height, kernel_width = kernel_array.shape[-2:]
    for i in range(output_height):
        for j in range(output_width):
            patch = get_patch(input_array, i, j, kernel_width, kernel_height, stride)
            output_array[i, j] = (patch * kernel_array).sum() + bias


def get_max_index(array: Array) -> tuple[int, int]:
    """(KH, KW) -> (k, l): where the maximum is, the first in row-major order (seed 000 `get_max_index`)."""
    k, m = np.unravel_index(int(np.argmax(array)), array.shape)  # argmax returns the first occurrence
    return int(k), int(m)


def expand_sensitivity_map(sensitivity_array: Array, stride: int) -> Array:
    """(…, OH, OW) -> (…, (OH − 1)·S + 1, (OW − 1)·S + 1): S − 1 zeros between neighbouring elements.

    Seed 000 `expand_sensitivity_map` (处理卷积步长): a stride-S convolution is the stride-1 one with only
    every S-th output kept, so its δ is the stride-1 δ with zeros where outputs were dropped; the backward
    pass can then run at stride 1 throughout.
    """
    output_height, output_width = sensitivity_array.shape[-2:]
    expanded_array = np.zeros(
        sensitivity_array.shape[:-2] + ((output_height - 1) * stride + 1, (output_width - 1) * stride + 1)
    )
    for i in range(output_height):
        for j in range(output_width):
            expanded_array[..., i * stride, j * stride] = sensitivity_array[..., i, j]
    return expanded_array


def _conv_shapes(
    x: Array, weights: Array, stride: int, zero_padding: int, sensitivity_array: Array | None = None
) -> tuple[int, int]:
    """x (C, H, W), weights (F, C, KH, KW) -> (OH, OW), or a ShapeError that names the mismatch."""
    if x.ndim != 3 or weights.ndim != 4:
        raise ShapeError(f"expected x (C, H, W) and weights (F, C, KH, KW), got {x.shape}, {weights.shape}")
    if x.shape[0] != weights.shape[1]:
        raise ShapeError(f"x has {x.shape[0]} channels but the filters expect {weights.shape[1]}")
    output_height = output_size(x.shape[1], weights.shape[2], zero_padding, stride)
    output_width = output_size(x.shape[2], weights.shape[3], zero_padding, stride)
    expected = (weights.shape[0], output_height, output_width)
    if sensitivity_array is not None and sensitivity_array.shape != expected:
        raise ShapeError(
            f"the sensitivity map must have the output's shape {expected}, got {sensitivity_array.shape}",
        )
    return output_height, output_width


def conv_forward(x: Array, weights: Array, bias: Array, stride: int, zero_padding: int) -> Array:
    """x (C, H, W) -> net (F, OH, OW): each filter cross-correlated with the zero-padded input, plus its bias.

    Seed 000 `ConvLayer.forward` without the activator. weights (F, C, KH, KW), bias (F,).
    """
    output_height, output_width = _conv_shapes(x, weights, stride, zero_padding)
    if bias.shape != (weights.shape[0],):
        raise ShapeError(f"bias must have shape ({weights.shape[0]},), one per filter, got {bias.shape}")
    padded_input_array = padding(x, zero_padding)  # (C, H + 2P, W + 2P)
    net = np.zeros((weights.shape[0], output_height, output_width))
    for f in range(weights.shape[0]):
        conv(padded_input_array, weights[f], net[f], stride, float(bias[f]))
    return net


def conv_bp_sensitivity_map(
    x: Array, weights: Array, sensitivity_array: Array, stride: int, zero_padding: int
) -> Array:
    """δ (F, OH, OW) -> ∂E/∂x (C, H, W): expand, full-pad, convolve with each filter rotated 180°.

    Seed 000 `bp_sensitivity_map` (∂E/∂i_ij = Σ_m Σ_n h_mn δ_(i+m)(j+n) after the flip), step by step:
    1. expand δ for the stride, so that everything after runs at stride 1;
    2. zero-pad it by KH − 1 rows and KW − 1 columns, the "full" convolution: every cell of the padded
       input meets every kernel element that touched it in the forward pass;
    3. cross-correlate with each filter rotated 180° (np.rot90(w, 2)), channel by channel; sum over filters;
    4. that is ∂E/∂(padded input), (C, H + 2P, W + 2P) since (OH − 1)·S + KH = H + 2P: crop P each side.
    The seed pads by K − 1 − P instead of cropping: the same when P ≤ K − 1, impossible when P > K − 1.
    Only x's shape is used. The seed's last step, the activation's derivative, is `activation_backward`.
    """
    _conv_shapes(x, weights, stride, zero_padding, sensitivity_array)
    filter_number, channel_number, filter_height, filter_width = weights.shape
    expanded_array = expand_sensitivity_map(sensitivity_array, stride)  # (F, (OH − 1)·S + 1, (OW − 1)·S + 1)
    padded_array = padding(expanded_array, (filter_height - 1, filter_width - 1))  # (F, H + 2P + KH − 1, …)
    padded_height = x.shape[1] + 2 * zero_padding
    padded_width = x.shape[2] + 2 * zero_padding
    padded_delta = np.zeros((channel_number, padded_height, padded_width))
    for f in range(filter_number):
        for d in range(channel_number):
            flipped_weights = np.rot90(weights[f, d], 2)
            delta_array = np.zeros((padded_height, padded_width))
            conv(padded_array[f], flipped_weights, delta_array, 1, 0.0)
            padded_delta[d] += delta_array  # the layer below gets the sum over filters
    # The padding cells get an error too, but they are constants: there is nothing to pass it on to.
    p = zero_padding
    return padded_delta[:, p : padded_height - p, p : padded_width - p]


def conv_bp_gradient(
    x: Array, weights: Array, sensitivity_array: Array, stride: int, zero_padding: int
) -> tuple[Array, Array]:
    """x (C, H, W), δ (F, OH, OW) -> ∂E/∂w (F, C, KH, KW), ∂E/∂b (F,) (seed 000 `bp_gradient`).

    ∂E/∂w[f, d] = padded input[d] ⋆ expanded δ[f] at stride 1 (∂E/∂w_ij = Σ_m Σ_n δ_mn a_(i+m)(j+n));
    ∂E/∂b[f] = Σ δ[f]. Only weights' shape is used.
    """
    _conv_shapes(x, weights, stride, zero_padding, sensitivity_array)
    filter_number, channel_number = weights.shape[:2]
    padded_input_array = padding(x, zero_padding)  # (C, H + 2P, W + 2P)
    expanded_array = expand_sensitivity_map(sensitivity_array, stride)  # (F, H + 2P − KH + 1, …)
    weights_grad = np.zeros(weights.shape)
    bias_grad = np.zeros(filter_number)
    for f in range(filter_number):
        for d in range(channel_number):
            conv(padded_input_array[d], expanded_array[f], weights_grad[f, d], 1, 0.0)  # fills (KH, KW)
        bias_grad[f] = expanded_array[f].sum()
    return weights_grad, bias_grad


def conv_backward(
    x: Array, weights: Array, sensitivity_array: Array, stride: int, zero_padding: int
) -> tuple[Array, Array, Array]:
    """δ (F, OH, OW) -> ∂E/∂x (C, H, W), ∂E/∂w (F, C, KH, KW), ∂E/∂b (F,): the seed's whole backward."""
    delta_input = conv_bp_sensitivity_map(x, weights, sensitivity_array, stride, zero_padding)
    weights_grad, bias_grad = conv_bp_gradient(x, weights, sensitivity_array, stride, zero_padding)
    return delta_input, weights_grad, bias_grad


def _pool_shapes(x: Array, size: int, stride: int) -> tuple[int, int]:
    """x (C, H, W) -> (OH, OW) for size×size windows moved by `stride`, no padding."""
    if x.ndim != 3:
        raise ShapeError(f"pooling takes x (C, H, W), got shape {x.shape}")
    return output_size(x.shape[1], size, 0, stride), output_size(x.shape[2], size, 0, stride)


def maxpool_forward(x: Array, size: int, stride: int) -> tuple[Array, NDArray[np.intp]]:
    """x (C, H, W) -> out (C, OH, OW), argmax (C, OH, OW, 2): the maximum of each window, and where it was.

    Seed 000 `MaxPoolingLayer.forward`; argmax holds the input (row, col) of the window's first maximum in
    row-major order: where `maxpool_backward` sends that output's error.
    """
    output_height, output_width = _pool_shapes(x, size, stride)
    out = np.zeros((x.shape[0], output_height, output_width))
    argmax = np.zeros((x.shape[0], output_height, output_width, 2), dtype=np.intp)
    for d in range(x.shape[0]):
        for i in range(output_height):
            for j in range(output_width):
                patch_array = get_patch(x[d], i, j, size, size, stride)
                k, m = get_max_index(patch_array)
                out[d, i, j] = patch_array[k, m]
                argmax[d, i, j] = (i * stride + k, j * stride + m)
    return out, argmax


def maxpool_backward(x: Array, sensitivity_array: Array, size: int, stride: int) -> Array:
    """δ (C, OH, OW) -> ∂E/∂x (C, H, W): each output's error goes to its window's argmax, the rest get 0.

    Seed 000 `MaxPoolingLayer.backward`, with `+=` where the seed writes `=`: when windows overlap
    (size > stride) one input cell can be the maximum of several windows, and its error is their sum.
    """
    output_height, output_width = _pool_shapes(x, size, stride)
    delta_array = np.zeros(x.shape)
    for d in range(x.shape[0]):
        for i in range(output_height):
            for j in range(output_width):
                k, m = get_max_index(get_patch(x[d], i, j, size, size, stride))
                delta_array[d, i * stride + k, j * stride + m] += sensitivity_array[d, i, j]
    return delta_array


def avgpool_forward(x: Array, size: int, stride: int) -> Array:
    """x (C, H, W) -> out (C, OH, OW): the mean of each size×size window (seed 002's mean-pooling)."""
    output_height, output_width = _pool_shapes(x, size, stride)
    out = np.zeros((x.shape[0], output_height, output_width))
    for d in range(x.shape[0]):
        for i in range(output_height):
            for j in range(output_width):
                out[d, i, j] = get_patch(x[d], i, j, size, size, stride).mean()
    return out


def avgpool_backward(x: Array, sensitivity_array: Array, size: int, stride: int) -> Array:
    """δ (C, OH, OW) -> ∂E/∂x (C, H, W): every cell of a window gets δ / (size·size); overlapping windows add.

    Seed 002's up-sampling through a mean-pooling layer. Only x's shape is used.
    """
    output_height, output_width = _pool_shapes(x, size, stride)
    delta_array = np.zeros(x.shape)
    for d in range(x.shape[0]):
        for i in range(output_height):
            for j in range(output_width):
                patch = get_patch(delta_array[d], i, j, size, size, stride)  # a view: += writes through
                patch += sensitivity_array[d, i, j] / (size * size)
    return delta_array


def dense_forward(x: Array, weights: Array, bias: Array) -> Array:
    """x (D,) -> net (K,): net_k = Σ_d w_kd x_d + b_k, weights (K, D), bias (K,)."""
    net = np.zeros(weights.shape[0])
    for k in range(weights.shape[0]):
        net[k] = bias[k]
        for d in range(weights.shape[1]):
            net[k] += weights[k, d] * x[d]
    return net


def dense_backward(x: Array, weights: Array, delta: Array) -> tuple[Array, Array, Array]:
    """δ (K,) -> ∂E/∂x (D,), ∂E/∂w (K, D) = δ·xᵀ, ∂E/∂b (K,) = δ (seed 002's fully connected layer)."""
    delta_input = np.zeros(weights.shape[1])
    weights_grad = np.zeros(weights.shape)
    for k in range(weights.shape[0]):
        for d in range(weights.shape[1]):
            delta_input[d] += weights[k, d] * delta[k]
            weights_grad[k, d] = delta[k] * x[d]
    return delta_input, weights_grad, np.array(delta, dtype=np.float64)


class Activator(Protocol):
    """Elementwise: `forward` gives f(net), `backward` gives f'(net) written through out = f(net)."""

    def forward(self, weighted_input: Array) -> Array: ...

    def backward(self, output: Array) -> Array: ...


class IdentityActivator:
    """f(net) = net, f' = 1 (the seed's test)."""

    def forward(self, weighted_input: Array) -> Array:
        return np.array(weighted_input, dtype=np.float64)

    def backward(self, output: Array) -> Array:
        return np.ones(np.shape(output))


class ReluActivator:
    """f(net) = max(0, net), f' = 1 where out > 0, else 0 (seed 000)."""

    def forward(self, weighted_input: Array) -> Array:
        return np.maximum(np.asarray(weighted_input, dtype=np.float64), 0.0)

    def backward(self, output: Array) -> Array:
        return (np.asarray(output) > 0).astype(np.float64)


class SigmoidActivator:
    """f(net) = 1 / (1 + e^−net), f' = o(1 − o) (seeds 000 and 002)."""

    def forward(self, weighted_input: Array) -> Array:
        return 1.0 / (1.0 + np.exp(-np.asarray(weighted_input, dtype=np.float64)))

    def backward(self, output: Array) -> Array:
        return output * (1.0 - output)


class TanhActivator:
    """f(net) = tanh(net), f' = 1 − o²."""

    def forward(self, weighted_input: Array) -> Array:
        return np.tanh(np.asarray(weighted_input, dtype=np.float64))

    def backward(self, output: Array) -> Array:
        return 1.0 - output * output


def activation_backward(delta_out: Array, output: Array, activator: Activator) -> Array:
    """∂E/∂out (…) -> δ = ∂E/∂net (…): times f'(net) written through out (seed 000's last step).

    In seed 000's `bp_sensitivity_map`, `output` is the conv layer's input, which is the layer below's
    output, and `activator` is the layer below's.
    """
    return delta_out * activator.backward(output)


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
    """input (C, H, W) -> output_array (F, OH, OW): seed 000's `ConvLayer`, on the functions above.

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

"""Seed 000's convolution, loop by loop: the output size rule, padding, windows, and the forward and backward
passes built from them. `conv` is cross-correlation (the kernel is not flipped), as in the seed.
"""

import numpy as np

from cnn.errors import ShapeError
from cnn.reference.array import Array


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

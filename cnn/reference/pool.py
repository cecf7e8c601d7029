"""Max pooling (seed 000) and mean pooling (seed 002), window by window, forward and backward."""

import numpy as np
from numpy.typing import NDArray

from cnn.errors import ShapeError
from cnn.reference.array import Array
from cnn.reference.conv import get_patch, output_size


def get_max_index(array: Array) -> tuple[int, int]:
    """(KH, KW) -> (k, l): where the maximum is, the first in row-major order (seed 000 `get_max_index`)."""
    k, m = np.unravel_index(int(np.argmax(array)), array.shape)  # argmax returns the first occurrence
    return int(k), int(m)


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

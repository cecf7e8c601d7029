"""cnn/reference/, the loop-based oracle: seed 000's golden numbers, every backward by finite differences.

The gradient check is written out here, apart from the library, so the oracle does not vouch for itself:
with L = sum(out * dout) for a random dout, ∂L/∂out = dout, and each backward must match centred
differences of L.
"""

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from cnn import gradcheck
from cnn import reference as ref
from cnn.gradcheck import relative_error
from tests.cnn.seed_example import (
    BIAS,
    BIAS_AFTER_UPDATE,
    FORWARD_OUTPUT,
    LEARNING_RATE,
    PADDING,
    STRIDE,
    W_AFTER_UPDATE,
    A,
    B,
    W,
)

Array = NDArray[np.float64]
TOLERANCE = 1e-7


def numerical_gradient(loss: Callable[[], float], array: Array) -> Array:
    """∂loss/∂array by centred differences (cnn.gradcheck), with a step of 1e-5."""
    return gradcheck.numerical_gradient(loss, array, eps=1e-5)


# (C, H, W, F, KH, KW, stride, padding): strides 1-3, paddings 0-3 (P > K − 1 in the last four but one),
# non-square inputs and kernels, odd sizes, a stride larger than the kernel.
CONV_CASES = [
    (1, 4, 4, 1, 2, 2, 1, 0),  # seed 000's 4×4 image and 2×2 filter
    (2, 5, 7, 2, 3, 2, 1, 1),
    (3, 5, 5, 2, 3, 3, 2, 1),  # seed 000's worked example's shapes
    (2, 7, 5, 2, 3, 3, 2, 0),
    (2, 4, 7, 2, 3, 3, 3, 1),
    (1, 5, 8, 2, 2, 2, 3, 0),  # stride > kernel: some inputs never touch an output
    (2, 5, 4, 2, 3, 2, 3, 2),  # P = 2 > KW − 1
    (1, 3, 4, 2, 2, 3, 1, 3),  # P = 3 > KH − 1, KW − 1
    (2, 5, 4, 2, 3, 2, 2, 3),
    (2, 5, 3, 3, 1, 1, 2, 0),
]


def conv_case(case: tuple[int, ...], seed: int) -> tuple[Array, Array, Array, Array, int, int]:
    C, H, W_, F, KH, KW, stride, padding = case
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(C, H, W_))
    weights = rng.normal(size=(F, C, KH, KW))
    bias = rng.normal(size=F)
    OH = ref.output_size(H, KH, padding, stride)
    OW = ref.output_size(W_, KW, padding, stride)
    dout = rng.normal(size=(F, OH, OW))
    return x, weights, bias, dout, stride, padding


def test_seed_example_replayed_through_conv_layer() -> None:
    # Seed 000's init_test() and test(), with its integer input arrays and its scalar biases.
    a, b = A.astype(np.int64), B.astype(np.int64)
    cl = ref.ConvLayer(5, 5, 3, 3, 3, 2, 1, 2, ref.IdentityActivator(), 0.001)
    cl.filters[0].weights = np.array(W[0], dtype=np.float64)
    cl.filters[0].bias = 1
    cl.filters[1].weights = np.array(W[1], dtype=np.float64)
    cl.forward(a)
    np.testing.assert_array_equal(cl.output_array, FORWARD_OUTPUT)
    cl.backward(a, b, ref.IdentityActivator())
    cl.update()
    for f in range(2):
        np.testing.assert_allclose(cl.filters[f].weights, W_AFTER_UPDATE[f], rtol=0, atol=1e-12)
        np.testing.assert_allclose(cl.filters[f].bias, BIAS_AFTER_UPDATE[f], rtol=0, atol=1e-12)


def test_seed_example_through_functions() -> None:
    np.testing.assert_array_equal(ref.conv_forward(A, W, BIAS, STRIDE, PADDING), FORWARD_OUTPUT)
    _, weights_grad, bias_grad = ref.conv_backward(A, W, B, STRIDE, PADDING)
    np.testing.assert_allclose(W - LEARNING_RATE * weights_grad, W_AFTER_UPDATE, rtol=0, atol=1e-12)
    np.testing.assert_allclose(BIAS - LEARNING_RATE * bias_grad, BIAS_AFTER_UPDATE, rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", [CONV_CASES[2], CONV_CASES[1], CONV_CASES[0]])
def test_cropping_equals_the_seeds_padding_by_k_minus_1_minus_p(case: tuple[int, ...]) -> None:
    # The seed pads the expanded map by K − 1 − P and convolves straight to (H, W); valid when P ≤ K − 1.
    x, weights, _, dout, stride, padding = conv_case(case, seed=3)
    KH, KW = weights.shape[2:]
    padded_array = ref.padding(ref.expand_sensitivity_map(dout, stride), (KH - 1 - padding, KW - 1 - padding))
    seed_delta = np.zeros(x.shape)
    for f in range(weights.shape[0]):
        for d in range(x.shape[0]):
            delta_array = np.zeros(x.shape[1:])
            ref.conv(padded_array[f], np.rot90(weights[f, d], 2), delta_array, 1, 0.0)
            seed_delta[d] += delta_array
    ours = ref.conv_bp_sensitivity_map(x, weights, dout, stride, padding)
    np.testing.assert_allclose(ours, seed_delta, rtol=0, atol=1e-12)


SEED_FILTER = np.array([[1.0, -1.0], [1.0, -1.0]])  # seed 000's filter1: o11 = 1×1 + 0×(−1) + 1×1 + 1×(−1)
RANDOM_FILTER = np.random.default_rng(5).normal(size=(2, 2))  # no symmetry to hide a wrong flip


@pytest.mark.parametrize("h", [SEED_FILTER, RANDOM_FILTER], ids=["seed", "random"])
def test_seed_4x4_image_partial_derivatives(h: Array) -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(size=(1, 4, 4))
    x[0, :2, :2] = [[1, 0], [1, 1]]  # i11, i12, i21, i22 from the seed's o11
    net = ref.conv_forward(x, h[None, None], np.zeros(1), 1, 0)
    assert net.shape == (1, 3, 3)
    if h is SEED_FILTER:
        assert net[0, 0, 0] == 1.0
        assert ref.ReluActivator().forward(net)[0, 0, 0] == 1.0
    d = rng.normal(size=(1, 3, 3))
    dx, _, _ = ref.conv_backward(x, h[None, None], d, 1, 0)
    δ = d[0]
    # ∂E/∂i11 = δ11·h11; ∂E/∂i12 = δ11·h12 + δ12·h11; ∂E/∂i22 = δ11·h22 + δ12·h21 + δ21·h12 + δ22·h11
    assert dx[0, 0, 0] == pytest.approx(δ[0, 0] * h[0, 0], rel=1e-12)
    assert dx[0, 0, 1] == pytest.approx(δ[0, 0] * h[0, 1] + δ[0, 1] * h[0, 0], rel=1e-12)
    expected = δ[0, 0] * h[1, 1] + δ[0, 1] * h[1, 0] + δ[1, 0] * h[0, 1] + δ[1, 1] * h[0, 0]
    assert dx[0, 1, 1] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "C{}H{}W{}F{}K{}x{}S{}P{}".format(*c))
def test_conv_backward_matches_finite_differences(case: tuple[int, ...]) -> None:
    x, weights, bias, dout, stride, padding = conv_case(case, seed=sum(case))

    def loss() -> float:
        return float(np.sum(ref.conv_forward(x, weights, bias, stride, padding) * dout))

    dx, dW, db = ref.conv_backward(x, weights, dout, stride, padding)
    assert dx.shape == x.shape and dW.shape == weights.shape and db.shape == bias.shape
    assert relative_error(dx, numerical_gradient(loss, x)) < TOLERANCE
    assert relative_error(dW, numerical_gradient(loss, weights)) < TOLERANCE
    assert relative_error(db, numerical_gradient(loss, bias)) < TOLERANCE


def test_forgetting_the_180_degree_rotation_is_caught() -> None:
    x, weights, bias, dout, stride, padding = conv_case((2, 5, 4, 2, 3, 2, 2, 1), seed=7)

    def loss() -> float:
        return float(np.sum(ref.conv_forward(x, weights, bias, stride, padding) * dout))

    numeric = numerical_gradient(loss, x)
    # Handing in pre-rotated filters makes the function rotate twice: the seed's step 3 without its flip.
    unrotated = ref.conv_bp_sensitivity_map(x, np.rot90(weights, 2, axes=(2, 3)), dout, stride, padding)
    assert relative_error(unrotated, numeric) > 1e-2
    assert relative_error(ref.conv_bp_sensitivity_map(x, weights, dout, stride, padding), numeric) < TOLERANCE


# (C, H, W, size, stride): overlapping windows (size > stride) in the second and third.
POOL_CASES = [(2, 4, 4, 2, 2), (1, 7, 5, 3, 2), (2, 5, 6, 2, 1), (1, 6, 9, 3, 3), (2, 3, 5, 1, 2)]
POOL_IDS = ["C{}H{}W{}size{}S{}".format(*c) for c in POOL_CASES]


def pool_case(case: tuple[int, ...]) -> tuple[Array, Array, int, int]:
    C, H, W_, size, stride = case
    rng = np.random.default_rng(sum(case))
    x = rng.permutation(C * H * W_).reshape(C, H, W_) / 10.0  # distinct values: no ties, no argmax flips
    dout = rng.normal(size=(C, ref.output_size(H, size, 0, stride), ref.output_size(W_, size, 0, stride)))
    return x, dout, size, stride


@pytest.mark.parametrize("case", POOL_CASES, ids=POOL_IDS)
def test_maxpool_backward_matches_finite_differences(case: tuple[int, ...]) -> None:
    x, dout, size, stride = pool_case(case)

    def loss() -> float:
        return float(np.sum(ref.maxpool_forward(x, size, stride)[0] * dout))

    dx = ref.maxpool_backward(x, dout, size, stride)
    assert relative_error(dx, numerical_gradient(loss, x)) < TOLERANCE


@pytest.mark.parametrize("case", POOL_CASES, ids=POOL_IDS)
def test_avgpool_backward_matches_finite_differences(case: tuple[int, ...]) -> None:
    x, dout, size, stride = pool_case(case)

    def loss() -> float:
        return float(np.sum(ref.avgpool_forward(x, size, stride) * dout))

    dx = ref.avgpool_backward(x, dout, size, stride)
    assert relative_error(dx, numerical_gradient(loss, x)) < TOLERANCE


@pytest.mark.parametrize("case", POOL_CASES, ids=POOL_IDS)
def test_maxpool_argmax_points_at_the_maximum(case: tuple[int, ...]) -> None:
    x, _, size, stride = pool_case(case)
    out, argmax = ref.maxpool_forward(x, size, stride)
    channels = np.arange(x.shape[0])[:, None, None]
    np.testing.assert_array_equal(x[channels, argmax[..., 0], argmax[..., 1]], out)
    for d, i, j in np.ndindex(out.shape):
        window = x[d, i * stride : i * stride + size, j * stride : j * stride + size]
        assert out[d, i, j] == window.max()


def test_overlapping_maxpool_windows_add_their_errors() -> None:
    x = np.array([[[0.0, 1.0, 2.0], [3.0, 9.0, 4.0], [5.0, 6.0, 7.0]]])  # 9 is the max of all four windows
    dout = np.array([[[1.0, 2.0], [3.0, 4.0]]])
    expected = np.zeros((1, 3, 3))
    expected[0, 1, 1] = 10.0
    np.testing.assert_array_equal(ref.maxpool_backward(x, dout, 2, 1), expected)


def test_get_max_index_takes_the_first_maximum_in_row_major_order() -> None:
    assert ref.get_max_index(np.array([[1.0, 3.0], [3.0, 0.0]])) == (0, 1)
    assert ref.get_max_index(np.array([[1.0, 0.0], [4.0, 4.0]])) == (1, 0)


def test_avgpool_spreads_each_error_evenly() -> None:
    dx = ref.avgpool_backward(np.zeros((1, 3, 3)), np.array([[[4.0, 8.0], [0.0, 0.0]]]), 2, 1)
    np.testing.assert_array_equal(dx[0], [[1.0, 3.0, 2.0], [1.0, 3.0, 2.0], [0.0, 0.0, 0.0]])


@pytest.mark.parametrize(("D", "K"), [(7, 4), (1, 3), (5, 1)])
def test_dense_backward_matches_finite_differences(D: int, K: int) -> None:
    rng = np.random.default_rng(D * 10 + K)
    x, weights, bias, dout = (
        rng.normal(size=D),
        rng.normal(size=(K, D)),
        rng.normal(size=K),
        rng.normal(size=K),
    )

    def loss() -> float:
        return float(np.sum(ref.dense_forward(x, weights, bias) * dout))

    np.testing.assert_allclose(ref.dense_forward(x, weights, bias), weights @ x + bias, rtol=1e-12)
    dx, dW, db = ref.dense_backward(x, weights, dout)
    assert relative_error(dx, numerical_gradient(loss, x)) < TOLERANCE
    assert relative_error(dW, numerical_gradient(loss, weights)) < TOLERANCE
    assert relative_error(db, numerical_gradient(loss, bias)) < TOLERANCE


ACTIVATORS = [ref.IdentityActivator(), ref.ReluActivator(), ref.SigmoidActivator(), ref.TanhActivator()]


@pytest.mark.parametrize("activator", ACTIVATORS, ids=lambda a: type(a).__name__)
def test_activation_backward_matches_finite_differences(activator: Any) -> None:
    rng = np.random.default_rng(8)
    z = rng.normal(size=(2, 3, 4))
    z += np.sign(z) * 0.1  # away from ReLU's kink at 0
    dout = rng.normal(size=z.shape)

    def loss() -> float:
        return float(np.sum(activator.forward(z) * dout))

    delta = ref.activation_backward(dout, activator.forward(z), activator)
    assert relative_error(delta, numerical_gradient(loss, z)) < TOLERANCE


def test_conv_layer_multiplies_by_the_lower_layers_derivative() -> None:
    rng = np.random.default_rng(9)
    x = rng.uniform(0.1, 0.9, size=(2, 5, 4))  # the output of a sigmoid layer below
    dout = rng.normal(size=(3, 3, 3))  # OH = (5 − 3 + 2)/2 + 1, OW = (4 − 2 + 2)/2 + 1
    cl = ref.ConvLayer(4, 5, 2, 2, 3, 3, 1, 2, ref.TanhActivator(), 0.1, rng=rng)
    cl.backward(x, dout, ref.SigmoidActivator())
    np.testing.assert_allclose(cl.output_array, np.tanh(ref.conv_forward(x, cl.weights(), np.zeros(3), 2, 1)))
    delta_input = ref.conv_bp_sensitivity_map(x, cl.weights(), dout, 2, 1)
    np.testing.assert_allclose(cl.delta_array, delta_input * x * (1 - x), rtol=1e-12)


def test_filters_draw_from_the_given_rng() -> None:
    first = ref.Filter(3, 2, 4, rng=np.random.default_rng(0))
    second = ref.Filter(3, 2, 4, rng=np.random.default_rng(0))
    assert first.weights.shape == (4, 2, 3)  # (depth, height, width)
    assert np.abs(first.weights).max() <= 1e-4 and np.abs(first.weights).max() > 0
    np.testing.assert_array_equal(first.weights, second.weights)
    assert first.bias == 0.0


def test_expand_sensitivity_map_puts_stride_minus_1_zeros_between_elements() -> None:
    delta = np.array([[[1.0, 2.0], [3.0, 4.0]]])
    np.testing.assert_array_equal(ref.expand_sensitivity_map(delta, 1), delta)
    expected = [[[1, 0, 0, 2], [0, 0, 0, 0], [0, 0, 0, 0], [3, 0, 0, 4]]]
    np.testing.assert_array_equal(ref.expand_sensitivity_map(delta, 3), expected)


def test_padding_2d_3d_and_per_axis() -> None:
    np.testing.assert_array_equal(ref.padding(np.ones((1, 2)), 1), [[0, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0]])
    padded = ref.padding(np.ones((2, 1, 1)), (0, 2))
    assert padded.shape == (2, 1, 5)
    np.testing.assert_array_equal(padded[1, 0], [0, 0, 1, 0, 0])


ERROR_CASES: list[tuple[Callable[[], object], str]] = [
    (
        lambda: ref.output_size(10, 3, 0, 2),
        "(W − F + 2P)/S + 1 = (10 − 3 + 2·0)/2 + 1 = 4.5 is not an integer",
    ),
    (
        lambda: ref.conv_forward(np.zeros((1, 10, 10)), np.zeros((1, 1, 3, 3)), np.zeros(1), 2, 0),
        "= 4.5 is not",
    ),
    (lambda: ref.ConvLayer(10, 10, 1, 3, 3, 1, 0, 2, ref.IdentityActivator(), 0.1), "= 4.5 is not"),
    (lambda: ref.maxpool_forward(np.zeros((1, 5, 5)), 2, 2), "(5 − 2 + 2·0)/2 + 1 = 2.5 is not an integer"),
    (lambda: ref.output_size(2, 5, 1, 1), "does not fit an input of size 2 with zero padding 1"),
    (lambda: ref.output_size(5, 3, 0, 0), "stride 0 must be ≥ 1"),
    (lambda: ref.output_size(5, 3, -1, 1), "zero padding -1 ≥ 0"),
    (
        lambda: ref.conv_forward(np.zeros((2, 5, 5)), np.zeros((1, 3, 3, 3)), np.zeros(1), 1, 0),
        "x has 2 channels but the filters expect 3",
    ),
    (
        lambda: ref.conv_forward(np.zeros((3, 5, 5)), np.zeros((2, 3, 3, 3)), np.zeros(3), 1, 0),
        "bias must have shape (2,), one per filter, got (3,)",
    ),
    (
        lambda: ref.conv_backward(np.zeros((3, 5, 5)), np.zeros((2, 3, 3, 3)), np.zeros((2, 4, 4)), 1, 0),
        "the sensitivity map must have the output's shape (2, 3, 3), got (2, 4, 4)",
    ),
    (
        lambda: ref.padding(np.zeros(3), 1),
        "padding takes a 2-D (H, W) or 3-D (C, H, W) array, got shape (3,)",
    ),
    (lambda: ref.get_patch(np.zeros((1, 1, 2, 2)), 0, 0, 1, 1, 1), "got (1, 1, 2, 2)"),
    (lambda: ref.maxpool_forward(np.zeros((4, 4)), 2, 2), "pooling takes x (C, H, W), got shape (4, 4)"),
    (
        lambda: ref.ConvLayer(5, 4, 1, 3, 3, 1, 1, 1, ref.ReluActivator(), 0.1).forward(np.ones((1, 5, 4))),
        "ConvLayer expects an input of shape (1, 4, 5), got (1, 5, 4)",
    ),
]


@pytest.mark.parametrize(("call", "message"), ERROR_CASES, ids=[m[:40] for _, m in ERROR_CASES])
def test_errors_name_the_numbers(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        call()

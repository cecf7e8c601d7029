"""The fast NCHW layers against cnn/reference/, the seed's loop-based oracle, example by example, to 1e-12.

The reference takes one example in (C, H, W); the fast layers take a batch. Per-example results (outputs, ∂E/∂x,
routing) must match each example; parameter gradients must match the sum over the batch.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from cnn import AvgPool2D, Conv2D, Dense, MaxPool2D
from cnn import reference as ref
from tests.cnn import seed_example as seed

ATOL = 1e-12


def close(actual, expected):
    assert_allclose(actual, expected, rtol=0, atol=ATOL)


# (N, C, H, W, F, kernel, stride, padding)
CONV_CASES = [
    (3, 3, 5, 5, 2, 3, 2, 1),  # seed 000's shapes, batched
    (2, 1, 6, 6, 2, 3, 1, 0),
    (3, 2, 7, 7, 3, 3, 2, 0),
    (2, 2, 8, 8, 2, 2, 3, 0),  # stride 3
    (2, 3, 5, 5, 2, 3, 2, 2),  # padding 2
    (2, 2, 3, 3, 2, 2, 1, 3),  # padding 3 > K − 1
    (3, 2, 5, 6, 3, (3, 2), 1, 1),  # non-square kernel
    (2, 1, 8, 9, 2, (2, 3), 3, 0),  # non-square kernel, stride 3
    (1, 2, 9, 7, 4, 5, 2, 2),  # larger kernel, odd sizes
    (2, 3, 4, 4, 2, 1, 3, 0),  # 1×1 kernel
]


@pytest.mark.parametrize(("N", "C", "H", "W", "F", "kernel", "stride", "padding"), CONV_CASES)
def test_conv2d_forward_and_backward_match_the_reference(N, C, H, W, F, kernel, stride, padding):
    rng = np.random.default_rng(N * 1000 + C * 100 + H * 10 + W)
    conv = Conv2D(C, F, kernel, stride=stride, padding=padding, rng=rng)
    conv.params["b"][...] = rng.standard_normal(F)
    Wt, b = conv.params["W"], conv.params["b"]
    x = rng.standard_normal((N, C, H, W))
    out = conv.forward(x)
    dout = rng.standard_normal(out.shape)
    dx = conv.backward(dout)

    dW_sum, db_sum = np.zeros_like(Wt), np.zeros_like(b)
    for n in range(N):
        close(out[n], ref.conv_forward(x[n], Wt, b, stride, padding))
        delta_input, weights_grad, bias_grad = ref.conv_backward(x[n], Wt, dout[n], stride, padding)
        close(dx[n], delta_input)
        dW_sum += weights_grad
        db_sum += bias_grad
    close(conv.grads["W"], dW_sum)
    close(conv.grads["b"], db_sum)


def test_conv2d_and_the_reference_both_reproduce_the_seed():
    conv = Conv2D(3, 2, 3, stride=seed.STRIDE, padding=seed.PADDING, rng=np.random.default_rng(0))
    conv.params["W"][...] = seed.W
    conv.params["b"][...] = seed.BIAS
    out = conv.forward(seed.A[None])
    assert_array_equal(out[0], seed.FORWARD_OUTPUT)
    assert_array_equal(ref.conv_forward(seed.A, seed.W, seed.BIAS, seed.STRIDE, seed.PADDING), seed.FORWARD_OUTPUT)
    dx = conv.backward(seed.B[None])
    delta_input, weights_grad, bias_grad = ref.conv_backward(seed.A, seed.W, seed.B, seed.STRIDE, seed.PADDING)
    close(dx[0], delta_input)
    close(conv.grads["W"], weights_grad)
    close(conv.grads["b"], bias_grad)


POOL_CASES = [
    (2, 2, 4, 6, 2, 2),
    (3, 2, 7, 7, 3, 2),  # overlapping windows
    (2, 1, 5, 4, 3, 1),  # overlapping, stride 1
    (1, 3, 6, 9, 3, 3),
    (2, 2, 5, 5, 2, 1),
]


def _pool_input(rng, shape, ties):
    if ties:
        return rng.integers(0, 3, shape).astype(np.float64)  # many ties: both must pick the first, row-major
    size = int(np.prod(shape))
    return ((rng.permutation(size) + 1) / size).reshape(shape)


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize(("N", "C", "H", "W", "size", "stride"), POOL_CASES)
def test_maxpool_forward_routing_and_backward_match_the_reference(N, C, H, W, size, stride, ties):
    rng = np.random.default_rng(H * 10 + W + size)
    x = _pool_input(rng, (N, C, H, W), ties)
    pool = MaxPool2D(size, stride)
    out = pool.forward(x)
    routing = pool.routing()
    dout = rng.standard_normal(out.shape)
    dx = pool.backward(dout)
    for n in range(N):
        ref_out, argmax = ref.maxpool_forward(x[n], size, stride)
        assert_array_equal(out[n], ref_out)
        assert_array_equal(routing[n], argmax)
        close(dx[n], ref.maxpool_backward(x[n], dout[n], size, stride))


@pytest.mark.parametrize(("N", "C", "H", "W", "size", "stride"), POOL_CASES)
def test_avgpool_forward_and_backward_match_the_reference(N, C, H, W, size, stride):
    rng = np.random.default_rng(H * 10 + W + size)
    x = rng.standard_normal((N, C, H, W))
    pool = AvgPool2D(size, stride)
    out = pool.forward(x)
    dout = rng.standard_normal(out.shape)
    dx = pool.backward(dout)
    for n in range(N):
        close(out[n], ref.avgpool_forward(x[n], size, stride))
        close(dx[n], ref.avgpool_backward(x[n], dout[n], size, stride))


@pytest.mark.parametrize(("N", "D", "K"), [(1, 4, 3), (3, 7, 5), (2, 1, 6)])
def test_dense_forward_and_backward_match_the_reference(N, D, K):
    rng = np.random.default_rng(D * 10 + K)
    dense = Dense(D, K, rng=rng)
    dense.params["b"][...] = rng.standard_normal(K)
    Wt, b = dense.params["W"], dense.params["b"]
    x = rng.standard_normal((N, D))
    out = dense.forward(x)
    dout = rng.standard_normal(out.shape)
    dx = dense.backward(dout)
    dW_sum, db_sum = np.zeros_like(Wt), np.zeros_like(b)
    for n in range(N):
        close(out[n], ref.dense_forward(x[n], Wt, b))
        delta_input, weights_grad, bias_grad = ref.dense_backward(x[n], Wt, dout[n])
        close(dx[n], delta_input)
        dW_sum += weights_grad
        db_sum += bias_grad
    close(dense.grads["W"], dW_sum)
    close(dense.grads["b"], db_sum)

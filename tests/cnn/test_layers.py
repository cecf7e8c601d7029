"""Every layer's backward against centred finite differences, plus the layer-level contracts around it.

The gradient checks use L = Σ out ⊙ dout (cnn.gradcheck.check_layer), so ∂L/∂out = dout and backward(dout) must be
∂L/∂x. Max-pool inputs are permutations of distinct O(1) values (no ties within ε); ReLU inputs stay away from 0.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from cnn import (
    AvgPool2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Identity,
    MaxPool2D,
    ReLU,
    ShapeError,
    Sigmoid,
    Tanh,
    check_layer,
    numerical_gradient,
    relative_error,
)

TOL = 1e-7


def distinct(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Distinct values in (0, 1], at least 1/size apart: no max-pool tie, no precision lost to large integers."""
    size = int(np.prod(shape))
    return ((rng.permutation(size) + 1) / size).reshape(shape)


def away_from_zero(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random signs, magnitudes ≥ 0.1: no ReLU kink within ε of any entry."""
    x = rng.standard_normal(shape)
    return np.sign(x) * (0.1 + np.abs(x))


def assert_gradients_agree(layer, x, rng, params=()):
    errors = check_layer(layer, x, rng)
    assert set(errors) == {"x", *params}
    for name, err in errors.items():
        assert err < TOL, f"{type(layer).__name__} ∂L/∂{name}: relative error {err:.2e}"


# Conv2D: (N, C, H, W, F, kernel, stride, padding)
CONV_CASES = [
    (1, 1, 5, 5, 1, 3, 1, 0),
    (3, 2, 7, 7, 3, 3, 2, 1),
    (2, 3, 5, 5, 2, 3, 2, 2),  # (5 − 3 + 4)/2 + 1 = 4
    (1, 2, 5, 6, 2, (3, 2), 1, 1),  # non-square kernel
    (3, 1, 8, 9, 2, (2, 3), 3, 0),  # stride 3, non-square kernel, odd width
    (1, 2, 5, 5, 3, 3, 3, 2),  # stride 3 with padding 2
    (2, 2, 3, 3, 2, 2, 1, 3),  # padding 3 > K − 1 = 1: some outputs see only zeros
    (1, 3, 4, 4, 2, 1, 3, 0),  # 1×1 kernel, stride 3
    (3, 2, 9, 7, 4, 5, 2, 2),  # odd sizes, larger kernel
]


@pytest.mark.parametrize(("N", "C", "H", "W", "F", "kernel", "stride", "padding"), CONV_CASES)
def test_conv2d_gradients_match_finite_differences(N, C, H, W, F, kernel, stride, padding):
    rng = np.random.default_rng(hash((N, C, H, W, F, stride, padding)) % 2**32)
    conv = Conv2D(C, F, kernel, stride=stride, padding=padding, rng=rng)
    conv.params["b"][...] = rng.standard_normal(F)
    x = rng.standard_normal((N, C, H, W))
    assert_gradients_agree(conv, x, rng, params=("W", "b"))


@pytest.mark.parametrize("N", [1, 3])
@pytest.mark.parametrize(
    ("H", "W", "size", "stride"),
    [(4, 6, 2, 2), (7, 5, 3, 2), (5, 4, 3, 1), (5, 5, 2, 1), (6, 9, 3, 3)],
    ids=["2s2", "3s2-overlap", "3s1-overlap", "2s1-overlap", "3s3"],
)
@pytest.mark.parametrize("cls", [MaxPool2D, AvgPool2D])
def test_pool_gradients_match_finite_differences(cls, H, W, size, stride, N):
    rng = np.random.default_rng(7)
    x = distinct(rng, (N, 2, H, W))
    assert_gradients_agree(cls(size, stride), x, rng)


@pytest.mark.parametrize(("N", "D", "K"), [(1, 4, 3), (3, 7, 5), (3, 1, 1)])
def test_dense_gradients_match_finite_differences(N, D, K):
    rng = np.random.default_rng(D * 10 + K)
    dense = Dense(D, K, rng=rng)
    dense.params["b"][...] = rng.standard_normal(K)
    assert_gradients_agree(dense, rng.standard_normal((N, D)), rng, params=("W", "b"))


@pytest.mark.parametrize("shape", [(1, 2, 3, 3), (3, 2, 5, 4), (3, 6)])
@pytest.mark.parametrize("cls", [ReLU, Sigmoid, Tanh, Identity])
def test_activation_gradients_match_finite_differences(cls, shape):
    rng = np.random.default_rng(3)
    assert_gradients_agree(cls(), away_from_zero(rng, shape), rng)


@pytest.mark.parametrize("shape", [(1, 2, 3, 3), (3, 4, 1, 5)])
def test_flatten_gradient_and_order(shape):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape)
    out = Flatten().forward(x)
    assert out.shape == (shape[0], int(np.prod(shape[1:])))
    assert_array_equal(out[-1], x[-1].ravel())  # (channel, row, column) in C order
    assert_gradients_agree(Flatten(), x, rng)


def test_relu_masks_exactly_the_non_positive_inputs():
    x = np.array([[-2.0, -0.1, 0.0, 0.1, 3.0]])
    relu = ReLU()
    assert_array_equal(relu.forward(x), [[0, 0, 0, 0.1, 3.0]])
    assert_array_equal(relu.backward(np.full_like(x, 5.0)), [[0, 0, 0, 5.0, 5.0]])


def test_sigmoid_is_finite_and_silent_at_extreme_inputs():
    x = np.array([[-1000.0, -40.0, 0.0, 40.0, 1000.0]])
    with np.errstate(all="raise"):
        out = Sigmoid().forward(x)
    assert np.all(np.isfinite(out))
    assert out[0, 2] == 0.5
    assert out[0, 0] == pytest.approx(0.0, abs=1e-300) and out[0, -1] == 1.0
    assert_allclose(Sigmoid().forward(np.array([[1.5]])), 1 / (1 + np.exp(-1.5)), rtol=1e-15)


# Dropout


def test_dropout_in_training_matches_finite_differences_with_its_mask_held_fixed():
    x = np.random.default_rng(0).standard_normal((3, 2, 4, 4))
    layer = Dropout(0.4, rng=np.random.default_rng(11))
    layer.training = True
    out = layer.forward(x)
    mask = layer.cache["mask"].copy()
    assert set(np.unique(mask)) == {0.0, 1 / 0.6}  # inverted dropout: kept units scaled by 1/(1 − p)
    assert_array_equal(out, x * mask)

    dout = np.random.default_rng(1).standard_normal(x.shape)
    dx = layer.backward(dout)
    assert_array_equal(dx, dout * mask)

    def loss() -> float:
        layer.rng = np.random.default_rng(11)  # the same draw, so the same mask as the forward above
        return float(np.sum(layer.forward(x) * dout))

    numerical = numerical_gradient(loss, x)
    assert_array_equal(layer.cache["mask"], mask)
    assert relative_error(dx, numerical) < TOL


def test_dropout_is_the_identity_in_evaluation():
    x = np.random.default_rng(0).standard_normal((2, 5))
    layer = Dropout(0.5, rng=np.random.default_rng(0))
    assert layer.forward(x) is x
    dout = np.ones_like(x)
    assert layer.backward(dout) is dout
    assert layer.extras() == {}


def test_dropout_drops_about_p_of_the_units_and_shows_its_mask():
    layer = Dropout(0.25, rng=np.random.default_rng(5))
    layer.training = True
    layer.forward(np.ones((100, 100)))
    mask = layer.extras()["mask"]
    assert abs(np.mean(mask == 0) - 0.25) < 0.02


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5])
def test_dropout_refuses_a_probability_outside_0_1(p):
    with pytest.raises(ShapeError, match=rf"Dropout probability must be in \[0, 1\), got {p}"):
        Dropout(p)


# A wrong gradient is caught


class ConvWithoutRotation(Conv2D):
    """The classic bug: ∂E/∂x convolves δ with the kernel as it is, not rotated by 180°."""

    def backward(self, dout):
        W = self.params["W"]
        self.params["W"] = np.ascontiguousarray(W[:, :, ::-1, ::-1])
        try:
            return super().backward(dout)
        finally:
            self.params["W"] = W


class DenseWithoutTranspose(Dense):
    """∂E/∂x computed with W where Wᵀ belongs (only shape-compatible for a square layer)."""

    def backward(self, dout):
        self.backward_params(dout)
        return dout @ self.params["W"].T


def test_check_layer_catches_a_conv_backward_without_the_180_degree_rotation():
    rng = np.random.default_rng(0)
    conv = ConvWithoutRotation(2, 3, 3, stride=1, padding=1, rng=rng)
    errors = check_layer(conv, rng.standard_normal((2, 2, 5, 5)), rng)
    assert errors["x"] > 1e-2
    assert errors["W"] < TOL and errors["b"] < TOL  # only the input gradient was broken


def test_check_layer_catches_a_dense_backward_without_the_transpose():
    rng = np.random.default_rng(0)
    dense = DenseWithoutTranspose(4, 4, rng=rng)
    errors = check_layer(dense, rng.standard_normal((3, 4)), rng)
    assert errors["x"] > 1e-2
    assert errors["W"] < TOL


# MaxPool2D routing


@pytest.mark.parametrize(("size", "stride", "H", "W"), [(2, 2, 6, 4), (3, 2, 7, 7), (3, 1, 5, 6)])
def test_maxpool_routing_points_at_the_argmax_cells(size, stride, H, W):
    rng = np.random.default_rng(1)
    x = distinct(rng, (3, 2, H, W))
    pool = MaxPool2D(size, stride)
    out = pool.forward(x)
    routing = pool.routing()
    assert routing.shape == (*out.shape, 2)
    N, C, OH, OW = out.shape
    for n, c, i, j in np.ndindex(N, C, OH, OW):
        r, col = routing[n, c, i, j]
        assert i * stride <= r < i * stride + size and j * stride <= col < j * stride + size
        assert x[n, c, r, col] == out[n, c, i, j]
        assert out[n, c, i, j] == x[n, c, i * stride : i * stride + size, j * stride : j * stride + size].max()
    assert_array_equal(pool.extras()["routing"], routing)


def test_maxpool_ties_go_to_the_first_cell_in_row_major_order():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 0:2, 2:4] = [[1.0, 3.0], [3.0, 3.0]]  # window (0, 1): three-way tie at (0, 3), (1, 2), (1, 3)
    x[0, 0, 2, 1] = x[0, 0, 3, 0] = 2.0  # window (1, 0): tie at (2, 1) and (3, 0)
    pool = MaxPool2D(2, 2)
    pool.forward(x)
    routing = pool.routing()[0, 0]
    assert tuple(routing[0, 0]) == (0, 0)  # all zeros: the top-left cell
    assert tuple(routing[0, 1]) == (0, 3)
    assert tuple(routing[1, 0]) == (2, 1)
    assert tuple(routing[1, 1]) == (2, 2)
    dx = pool.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    expected = np.zeros((4, 4))
    expected[0, 0], expected[0, 3], expected[2, 1], expected[2, 2] = 1.0, 2.0, 3.0, 4.0
    assert_array_equal(dx[0, 0], expected)


def test_overlapping_maxpool_windows_sum_their_errors_into_a_shared_cell():
    x = distinct(np.random.default_rng(2), (1, 1, 4, 5)) * 0.5
    x[0, 0, 2, 2] = 10.0  # in every 3×3 window at stride 1 over rows 0..3, columns 0..4
    pool = MaxPool2D(3, 1)
    out = pool.forward(x)
    assert out.shape == (1, 1, 2, 3)
    assert np.all(pool.routing()[0, 0] == (2, 2))
    dout = np.arange(1.0, 7.0).reshape(1, 1, 2, 3)
    dx = pool.backward(dout)
    assert dx[0, 0, 2, 2] == dout.sum() == 21.0
    assert np.count_nonzero(dx) == 1


def test_overlapping_size3_stride2_routes_a_shared_edge_cell_twice():
    x = distinct(np.random.default_rng(3), (1, 1, 3, 5)) * 0.5
    x[0, 0, 1, 2] = 5.0  # column 2 is shared by the windows at columns 0..2 and 2..4
    pool = MaxPool2D(3, 2)
    pool.forward(x)
    dx = pool.backward(np.array([[[[0.25, 0.5]]]]))
    assert dx[0, 0, 1, 2] == 0.75
    assert np.count_nonzero(dx) == 1


@pytest.mark.parametrize(
    ("size", "stride", "maps"),
    [(2, 2, [(8, 8), (4, 6)]), (3, 2, [(7, 7), (9, 11)]), (2, 3, [(8, 8), (5, 11)])],
    ids=["tiling", "overlapping", "gaps"],
)
def test_one_maxpool_layer_routes_correctly_when_the_input_shape_changes_between_passes(size, stride, maps):
    """The layer remembers the flat layout of its last input shape; a new batch size or map size must not reuse it."""
    rng = np.random.default_rng(4)
    pool = MaxPool2D(size, stride)
    (H1, W1), (H2, W2) = maps
    for shape in [(2, 3, H1, W1), (1, 3, H1, W1), (1, 2, H2, W2), (2, 3, H1, W1)]:
        x = distinct(rng, shape)
        out = pool.forward(x)
        dout = rng.standard_normal(out.shape)
        fresh = MaxPool2D(size, stride)
        fresh.forward(x)
        assert_array_equal(pool.backward(dout), fresh.backward(dout))
        assert_array_equal(pool.routing(), fresh.routing())


# dtype, backward_params, construction


def _float32_layers():
    rng = np.random.default_rng(0)
    return [
        (Conv2D(2, 3, 3, padding=1, rng=rng, dtype=np.float32), (2, 2, 4, 4)),
        (Dense(6, 4, rng=rng, dtype=np.float32), (2, 6)),
        (MaxPool2D(2), (2, 2, 4, 4)),
        (AvgPool2D(2), (2, 2, 4, 4)),
        (Flatten(), (2, 2, 4, 4)),
        (ReLU(), (2, 5)),
        (Sigmoid(), (2, 5)),
        (Tanh(), (2, 5)),
        (Identity(), (2, 5)),
    ]


@pytest.mark.parametrize("index", range(9))
def test_float32_layers_keep_float32(index):
    layer, shape = _float32_layers()[index]
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(np.float32)
    out = layer.forward(x)
    assert out.dtype == np.float32, type(layer).__name__
    dx = layer.backward(rng.standard_normal(out.shape).astype(np.float32))
    assert dx.dtype == np.float32
    for name in layer.params:
        assert layer.params[name].dtype == np.float32
        assert layer.grads[name].dtype == np.float32


def test_float32_dropout_keeps_float32_in_training():
    layer = Dropout(0.5, rng=np.random.default_rng(0))
    layer.training = True
    x = np.ones((3, 4), dtype=np.float32)
    assert layer.forward(x).dtype == np.float32
    assert layer.backward(x).dtype == np.float32


@pytest.mark.parametrize("make", [lambda rng: (Conv2D(2, 3, 3, stride=2, padding=1, rng=rng), (2, 2, 5, 5)),
                                  lambda rng: (Dense(5, 3, rng=rng), (2, 5))], ids=["Conv2D", "Dense"])
def test_backward_params_fills_the_same_grads_as_backward_and_returns_nothing(make):
    rng = np.random.default_rng(0)
    layer, shape = make(rng)
    x = rng.standard_normal(shape)
    out = layer.forward(x)
    dout = rng.standard_normal(out.shape)
    assert layer.backward(dout).shape == x.shape
    full = {k: v.copy() for k, v in layer.grads.items()}
    layer.grads = {}
    assert layer.backward_params(dout) is None
    assert set(layer.grads) == {"W", "b"}
    for k in full:
        assert_array_equal(layer.grads[k], full[k])


def test_conv_backward_params_skips_col2im(monkeypatch):
    """The point of Conv2D's own backward_params: ∂L/∂x, the costly half of its backward, is not computed."""
    rng = np.random.default_rng(0)
    conv = Conv2D(2, 3, 3, padding=1, rng=rng)
    conv.forward(rng.standard_normal((2, 2, 5, 5)))

    def refuse(*args, **kwargs):
        raise AssertionError("backward_params must not fold δ back into ∂L/∂x")

    monkeypatch.setattr("cnn.layers.conv.col2im", refuse)
    conv.backward_params(rng.standard_normal((2, 3, 5, 5)))
    assert set(conv.grads) == {"W", "b"}


@pytest.mark.parametrize("layer", [MaxPool2D(2), AvgPool2D(2), Flatten(), ReLU(), Sigmoid(), Tanh(), Identity()],
                         ids=lambda layer: type(layer).__name__)
def test_backward_params_on_a_parameterless_layer_returns_nothing_and_fills_no_grads(layer):
    out = layer.forward(np.ones((1, 1, 4, 4)))
    assert layer.backward_params(np.ones_like(out)) is None
    assert layer.grads == {}


def test_same_rng_seed_gives_the_same_weights():
    a = Conv2D(3, 4, 3, rng=np.random.default_rng(42))
    b = Conv2D(3, 4, 3, rng=np.random.default_rng(42))
    c = Conv2D(3, 4, 3, rng=np.random.default_rng(43))
    assert_array_equal(a.params["W"], b.params["W"])
    assert not np.array_equal(a.params["W"], c.params["W"])
    d1, d2 = Dense(10, 5, rng=np.random.default_rng(7)), Dense(10, 5, rng=np.random.default_rng(7))
    assert_array_equal(d1.params["W"], d2.params["W"])


def test_he_initialisation_scale():
    conv = Conv2D(64, 128, 3, rng=np.random.default_rng(0))
    W = conv.params["W"]
    assert W.shape == (128, 64, 3, 3)
    assert W.std() == pytest.approx(np.sqrt(2 / (64 * 9)), rel=0.02)  # N(0, 2/fan_in), 73,728 samples
    assert abs(W.mean()) < 0.003
    assert_array_equal(conv.params["b"], np.zeros(128))

    dense = Dense(1000, 300, rng=np.random.default_rng(1))
    assert dense.params["W"].shape == (300, 1000)
    assert dense.params["W"].std() == pytest.approx(np.sqrt(2 / 1000), rel=0.02)
    assert_array_equal(dense.params["b"], np.zeros(300))


def test_dense_refuses_an_input_of_the_wrong_width():
    dense = Dense(4, 2, rng=np.random.default_rng(0))
    with pytest.raises(ShapeError, match=r"Dense expects input \(N, 4\), got \(2, 5\)"):
        dense.forward(np.ones((2, 5)))


def test_conv_refuses_a_kernel_size_that_is_not_a_pair():
    with pytest.raises(ShapeError, match=r"kernel_size must be an integer or a pair of integers, got \[3, 3, 3\]"):
        Conv2D(1, 1, [3, 3, 3])


def test_conv_refuses_the_wrong_number_of_channels():
    conv = Conv2D(3, 2, 3, rng=np.random.default_rng(0))
    with pytest.raises(ShapeError, match=r"Conv2D expects 3 input channels, got 2"):
        conv.forward(np.ones((1, 2, 5, 5)))


def test_pool_refuses_a_window_larger_than_its_input():
    with pytest.raises(ShapeError, match=r"MaxPool2D height: kernel 3 is larger than its padded input 2"):
        MaxPool2D(3).forward(np.ones((1, 1, 2, 6)))

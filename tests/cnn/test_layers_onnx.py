"""The layers ONNX import brought (LeakyReLU, BatchNorm, ZeroPad2D, GlobalAvgPool2D): backward against centred finite
differences in float64, as tests/cnn/test_layers.py checks the others, plus their shapes and error messages."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from cnn import BatchNorm, GlobalAvgPool2D, LeakyReLU, ShapeError, ZeroPad2D, build_model, check_layer, summary

TOL = 1e-7


def assert_gradients_agree(layer, x, rng, params=()):
    errors = check_layer(layer, x, rng)
    assert set(errors) == {"x", *params}
    for name, err in errors.items():
        assert err < TOL, f"{type(layer).__name__} ∂L/∂{name}: relative error {err:.2e}"


def away_from_zero(rng, shape):
    x = rng.standard_normal(shape)
    return np.sign(x) * (0.1 + np.abs(x))


@pytest.mark.parametrize("shape", [(1, 2, 3, 3), (3, 6)])
@pytest.mark.parametrize("slope", [0.01, 0.2, 1.5])
def test_leaky_relu_gradient_matches_finite_differences(shape, slope):
    rng = np.random.default_rng(1)
    assert_gradients_agree(LeakyReLU(slope), away_from_zero(rng, shape), rng)


def test_leaky_relu_scales_exactly_the_non_positive_inputs():
    x = np.array([[-2.0, 0.0, 3.0]])
    assert_array_equal(LeakyReLU(0.1).forward(x), [[-0.2, 0.0, 3.0]])


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (4, 6)])
def test_batch_norm_gradients_match_finite_differences(shape):
    rng = np.random.default_rng(2)
    layer = BatchNorm(shape[1])
    layer.params["scale"][...] = rng.standard_normal(shape[1])
    layer.params["shift"][...] = rng.standard_normal(shape[1])
    assert_gradients_agree(layer, rng.standard_normal(shape), rng, params=("scale", "shift"))


def test_batch_norm_applies_one_scale_and_shift_per_channel():
    layer = BatchNorm(2)
    layer.params["scale"][...] = [2.0, -1.0]
    layer.params["shift"][...] = [0.5, 1.0]
    x = np.ones((1, 2, 2, 2))
    assert_array_equal(layer.forward(x)[0, :, 0, 0], [2.5, 0.0])


@pytest.mark.parametrize("padding", [(1, 1, 1, 1), (0, 1, 0, 1), (2, 0, 1, 3), (0, -1, 0, -2), (1, -1, -1, 2)])
def test_zero_pad_gradient_matches_finite_differences(padding):
    rng = np.random.default_rng(3)
    layer = ZeroPad2D(padding)
    x = rng.standard_normal((2, 2, 5, 4))
    out = layer.forward(x)
    left, right, top, bottom = padding
    assert out.shape == (2, 2, 5 + top + bottom, 4 + left + right)
    assert_gradients_agree(layer, x, rng)


def test_zero_pad_places_and_crops_like_numpy_pad_and_slicing():
    x = np.arange(12.0).reshape(1, 1, 3, 4)
    assert_array_equal(ZeroPad2D((1, 0, 0, 2)).forward(x)[0, 0], np.pad(x[0, 0], ((0, 2), (1, 0))))
    assert_array_equal(ZeroPad2D((0, -1, -1, 0)).forward(x)[0, 0], x[0, 0, 1:, :3])


def test_zero_pad_refuses_to_crop_everything():
    with pytest.raises(ShapeError, match="crops all of its input"):
        summary({"input_shape": [1, 3, 3], "layers": [{"type": "ZeroPad2D", "padding": [0, 0, -2, -1]}]})


@pytest.mark.parametrize("shape", [(1, 2, 3, 3), (3, 2, 4, 5)])
def test_global_avg_pool_gradient_matches_finite_differences(shape):
    rng = np.random.default_rng(4)
    layer = GlobalAvgPool2D()
    x = rng.standard_normal(shape)
    assert_allclose(layer.forward(x)[:, :, 0, 0], x.mean(axis=(2, 3)), rtol=1e-15)
    assert_gradients_agree(layer, x, rng)


def test_new_layers_build_from_a_spec_with_shapes_and_parameter_counts():
    spec = {
        "input_shape": [3, 6, 5],
        "layers": [
            {"type": "ZeroPad2D", "padding": [0, 1, 0, 0]},
            {"type": "Conv2D", "out_channels": 4, "kernel_size": 3, "padding": 1},
            {"type": "BatchNorm"},
            {"type": "LeakyReLU", "negative_slope": 0.2},
            {"type": "GlobalAvgPool2D"},
            {"type": "Flatten"},
            {"type": "Dense", "out_features": 2},
            {"type": "BatchNorm"},
        ],
    }
    rows = summary(spec)
    assert [r.output_shape for r in rows] == [(3, 6, 6), (4, 6, 6), (4, 6, 6), (4, 6, 6), (4, 1, 1), (4,), (2,), (2,)]
    assert rows[2].params == 8 and rows[7].params == 4
    model = build_model(spec, np.random.default_rng(0))
    assert model.forward(np.ones((2, 3, 6, 5))).shape == (2, 2)
    assert build_model(model.spec()).spec() == model.spec()

"""cnn.explain against its definitions, in float64: saliency is |∂score/∂x| by finite differences, Grad-CAM's channel
weights are the spatial means of ∂score/∂A with that gradient taken by finite differences on A itself, and occlusion
agrees with a plain loop over the patch's positions."""

from __future__ import annotations

import numpy as np
import pytest

from cnn import build_model, lenet5
from cnn.explain import grad_cam, last_convolution, occlusion, saliency
from cnn.model import Sequential
from cnn.pretrained import load_samples

EPS = 1e-6


@pytest.fixture(scope="module")
def model() -> Sequential:
    return build_model(lenet5(), rng=np.random.default_rng(0))


@pytest.fixture(scope="module")
def digit() -> np.ndarray:
    """A sample digit with faint noise on it: on a uniform background every pixel would sit on a ReLU kink or a
    max-pool tie, where finite differences measure no derivative."""
    images, _ = load_samples()
    noise = np.random.default_rng(4).uniform(0.0, 0.05, (28, 28))
    return (images[3] / 255.0 + noise)[None]


def score(model: Sequential, x: np.ndarray, target: int) -> float:
    return float(model.forward(x[None])[0, target])


def test_saliency_is_the_absolute_gradient_of_the_score(model: Sequential, digit: np.ndarray) -> None:
    got = saliency(model, digit, 3)
    assert got.shape == (28, 28)
    rng = np.random.default_rng(1)
    for r, c in rng.integers(0, 28, size=(12, 2)):
        up, down = digit.copy(), digit.copy()
        up[0, r, c] += EPS
        down[0, r, c] -= EPS
        numeric = (score(model, up, 3) - score(model, down, 3)) / (2 * EPS)
        assert got[r, c] == pytest.approx(abs(numeric), rel=1e-6, abs=1e-9)


TANH_NET = {"input_shape": [1, 28, 28], "layers": [
    {"type": "Conv2D", "out_channels": 4, "kernel_size": 5}, {"type": "Tanh"}, {"type": "MaxPool2D", "size": 2},
    {"type": "Conv2D", "out_channels": 6, "kernel_size": 5}, {"type": "Tanh"}, {"type": "MaxPool2D", "size": 2},
    {"type": "Flatten"}, {"type": "Dense", "out_features": 10}]}


def test_grad_cam_weights_are_the_spatial_means_of_the_score_gradient_at_the_last_convolution(
        digit: np.ndarray) -> None:
    """On a tanh network: its maps have no zeros, so no max-pool ties, where a finite difference measures no
    derivative (a ReLU network's rectified maps are full of them)."""
    model = build_model(TANH_NET, rng=np.random.default_rng(5))
    cam = grad_cam(model, digit, 5)
    k = last_convolution(model)
    assert model.trace[k - 1].kind == "Conv2D" and model.trace[k].kind == "Tanh"  # conv2's maps, activated
    activations = cam.activations

    def tail(a: np.ndarray) -> float:  # the score from the maps A on
        out = a[None]
        for layer in model.layers[k + 1 :]:
            out = layer.forward(out)
        return float(out[0, 5])

    numeric = np.zeros_like(activations)
    for index in np.ndindex(*activations.shape):
        up, down = activations.copy(), activations.copy()
        up[index] += EPS
        down[index] -= EPS
        numeric[index] = (tail(up) - tail(down)) / (2 * EPS)
    np.testing.assert_allclose(cam.weights, numeric.mean(axis=(1, 2)), rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(cam.coarse, np.maximum(np.tensordot(cam.weights, activations, axes=1), 0))
    assert cam.map.shape == (28, 28) and cam.map.min() >= 0 and cam.layer == model.trace[k].name


def test_grad_cam_on_lenet5_weighs_conv2s_rectified_maps(model: Sequential, digit: np.ndarray) -> None:
    cam = grad_cam(model, digit, 3)
    k = last_convolution(model)
    assert (model.trace[k - 1].kind, model.trace[k].kind, cam.activations.shape) == ("Conv2D", "ReLU", (16, 10, 10))
    np.testing.assert_allclose(cam.weights, model.trace[k].delta[0].mean(axis=(1, 2)))
    assert cam.map.shape == (28, 28) and cam.map.max() > 0


def test_occlusion_agrees_with_a_loop(model: Sequential, digit: np.ndarray) -> None:
    got = occlusion(model, digit, 7, patch=5, stride=3, batch=7)  # batches that do not divide the positions
    base = score(model, digit, 7)
    total, count = np.zeros((28, 28)), np.zeros((28, 28))
    for top in range(0, 24, 3):
        for left in range(0, 24, 3):
            hidden = digit.copy()
            hidden[0, top : top + 5, left : left + 5] = 0.0
            total[top : top + 5, left : left + 5] += base - score(model, hidden, 7)
            count[top : top + 5, left : left + 5] += 1
    expected = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_the_trace_is_the_inputs_after_any_explanation(model: Sequential, digit: np.ndarray) -> None:
    model.forward(digit[None])
    before = model.trace[-1].output.copy()
    occlusion(model, digit, 3)
    np.testing.assert_array_equal(model.trace[-1].output, before)


def test_what_cannot_be_explained_says_why(model: Sequential, digit: np.ndarray) -> None:
    dense_only = build_model({"input_shape": [1, 28, 28], "layers": [{"type": "Flatten"},
                                                                      {"type": "Dense", "out_features": 10}]})
    with pytest.raises(ValueError, match="Grad-CAM needs a convolution"):
        grad_cam(dense_only, digit, 0)
    with pytest.raises(ValueError, match="class 12 is not one of the model's 10 outputs"):
        saliency(model, digit, 12)
    with pytest.raises(ValueError, match="patch must be 1 to 28"):
        occlusion(model, digit, 0, patch=40)

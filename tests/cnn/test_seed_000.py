"""Seed 000's worked example through the public API: forward, backward with the seed's sensitivity map, one update.

The golden numbers live in tests/cnn/seed_example.py; they are asserted exactly (forward, integer arithmetic) or to
1e-12 (after the update, where 0.001·g is not exactly representable).
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from cnn import SGD, Conv2D, Identity, Sequential, build_model
from tests.cnn import seed_example as seed


def _seed_conv() -> Conv2D:
    conv = Conv2D(3, 2, 3, stride=seed.STRIDE, padding=seed.PADDING, rng=np.random.default_rng(0))
    conv.params["W"][...] = seed.W
    conv.params["b"][...] = seed.BIAS
    return conv


def _seed_model_from_layers() -> Sequential:
    return Sequential([_seed_conv(), Identity()], input_shape=(3, 5, 5))


def _seed_model_from_spec() -> Sequential:
    spec = {
        "input_shape": [3, 5, 5],
        "layers": [
            {"type": "Conv2D", "out_channels": 2, "kernel_size": 3, "stride": seed.STRIDE, "padding": seed.PADDING},
            {"type": "Identity"},
        ],
    }
    model = build_model(spec, rng=np.random.default_rng(0))
    model.load_params({"conv1.W": seed.W, "conv1.b": seed.BIAS})
    return model


BUILDERS = pytest.mark.parametrize("make_model", [_seed_model_from_layers, _seed_model_from_spec],
                                   ids=["layers", "spec"])


@BUILDERS
def test_forward_output_equals_the_seed(make_model):
    model = make_model()
    out = model.forward(seed.A[None])
    assert out.shape == (1, 2, 3, 3)
    assert_array_equal(out[0], seed.FORWARD_OUTPUT)
    # The identity activation leaves the conv's weighted input unchanged.
    assert_array_equal(model.trace[0].output, model.trace[1].output)


@BUILDERS
def test_one_update_gives_the_seeds_weights_and_biases(make_model):
    model = make_model()
    model.forward(seed.A[None])
    model.backward(seed.B[None])
    updates = SGD(lr=seed.LEARNING_RATE).step_recorded(model)

    assert set(updates) == {"conv1.W", "conv1.b"}
    W, b = model.named_params()["conv1.W"], model.named_params()["conv1.b"]
    assert_allclose(W, seed.W_AFTER_UPDATE, rtol=0, atol=1e-12)
    assert_allclose(b, seed.BIAS_AFTER_UPDATE, rtol=0, atol=1e-12)


@BUILDERS
def test_param_update_before_delta_after_are_consistent(make_model):
    model = make_model()
    model.forward(seed.A[None])
    model.backward(seed.B[None])
    grad_W = model.named_grads()["conv1.W"].copy()
    updates = SGD(lr=seed.LEARNING_RATE).step_recorded(model)

    w = updates["conv1.W"]
    assert_array_equal(w.before, seed.W)
    assert_array_equal(w.after - w.before, w.delta)
    assert_array_equal(w.after, model.named_params()["conv1.W"])
    assert_allclose(w.delta, -seed.LEARNING_RATE * grad_W, rtol=0, atol=1e-15)
    assert_allclose(w.after, seed.W_AFTER_UPDATE, rtol=0, atol=1e-12)

    b = updates["conv1.b"]
    assert_array_equal(b.before, seed.BIAS)
    assert_array_equal(b.after - b.before, b.delta)
    assert_allclose(b.after, seed.BIAS_AFTER_UPDATE, rtol=0, atol=1e-12)

    # The record is a snapshot: it does not alias the live parameters.
    assert w.before is not model.named_params()["conv1.W"]
    assert w.after is not model.named_params()["conv1.W"]


def test_seed_sensitivity_map_is_the_conv_layers_delta():
    model = _seed_model_from_layers()
    model.forward(seed.A[None])
    model.backward(seed.B[None])
    conv_trace = model.trace[0]
    assert_array_equal(conv_trace.delta[0], seed.B)
    # ∂E/∂b is the sum of the sensitivity map over each filter's output (seed 000 bp_gradient).
    assert_array_equal(conv_trace.param_grads["b"], seed.B.sum(axis=(1, 2)))

"""Sequential: stepping through passes, what the trace means, whole-network gradient checks, spec and parameters."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from cnn import (
    AvgPool2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    LayerTrace,
    MaxPool2D,
    ReLU,
    Sequential,
    ShapeError,
    Sigmoid,
    Tanh,
    build_model,
    check_model,
    lenet5,
    mean_squared_error,
    numerical_gradient,
    one_hot,
    relative_error,
    softmax_cross_entropy,
)
from cnn.layers.im2col import windows

MARGIN = 1e-4  # ≫ ε = 1e-6: no ReLU kink or max-pool tie can be crossed by a finite-difference step


def small_net(rng: np.random.Generator) -> Sequential:
    """Conv → ReLU → MaxPool → Conv(stride 2, padding 1) → Tanh → AvgPool → Flatten → Dense → Sigmoid → Dense."""
    layers = [
        Conv2D(2, 3, 3, padding=1, rng=rng),  # (3, 6, 6)
        ReLU(),
        MaxPool2D(2),  # (3, 3, 3)
        Conv2D(3, 4, 3, stride=2, padding=1, rng=rng),  # (4, 2, 2)
        Tanh(),
        AvgPool2D(2),  # (4, 1, 1)
        Flatten(),  # (4,)
        Dense(4, 5, rng=rng),
        Sigmoid(),
        Dense(5, 3, rng=rng),
    ]
    model = Sequential(layers, input_shape=(2, 6, 6))
    for name, value in model.named_params().items():
        if name.endswith(".b"):
            value[...] = 0.1 * rng.standard_normal(value.shape)
    return model


def lenet_like(rng: np.random.Generator) -> Sequential:
    layers = [
        Conv2D(1, 4, 3, padding=1, rng=rng),  # (4, 8, 8)
        ReLU(),
        MaxPool2D(2),  # (4, 4, 4)
        Conv2D(4, 6, 3, rng=rng),  # (6, 2, 2)
        ReLU(),
        Flatten(),
        Dense(24, 10, rng=rng),
    ]
    return Sequential(layers, input_shape=(1, 8, 8))


def assert_smooth_at_this_point(model: Sequential) -> None:
    """The last forward pass had no ReLU input and no max-pool runner-up within MARGIN of a kink."""
    for entry, layer in zip(model.trace, model.layers, strict=True):
        if isinstance(layer, ReLU):
            assert np.min(np.abs(entry.input)) > MARGIN, f"{entry.name}: a ReLU input sits at a kink"
        if isinstance(layer, MaxPool2D):
            win = windows(entry.input, layer.size, layer.size, layer.stride)
            flat = np.sort(win.reshape(*win.shape[:4], -1), axis=-1)
            top, runner_up = flat[..., -1], flat[..., -2]
            # A window of cells a ReLU set to 0 ties harmlessly: every cell in it is locally constant.
            clear = (top - runner_up > MARGIN) | (top == 0)
            assert np.all(clear), f"{entry.name}: a max-pool window nearly ties"


# Stepping and the trace


def test_forward_steps_yields_one_trace_per_layer_in_order_and_chains_them():
    rng = np.random.default_rng(0)
    model = small_net(rng)
    x = rng.standard_normal((2, 2, 6, 6))
    steps = model.forward_steps(x)
    first = next(steps)
    assert first.index == 0 and first.name == "conv1" and first.kind == "Conv2D"
    assert model.trace[1].output is None  # lazily: the next layer has not run yet
    assert first.delta is None  # forward only
    rest = list(steps)
    entries = [first, *rest]
    assert [e.index for e in entries] == list(range(len(model)))
    assert [e.name for e in entries] == model.names == [
        "conv1", "relu1", "pool1", "conv2", "tanh1", "avgpool1", "flatten1", "dense1", "sigmoid1", "dense2"
    ]
    assert all(isinstance(e, LayerTrace) for e in entries)
    assert_array_equal(entries[0].input, x)
    for before, after in zip(entries, entries[1:], strict=False):
        assert after.input is before.output
    for entry, shape in zip(entries, model.shapes, strict=True):
        assert entry.output.shape == (2, *shape)
        assert entry.delta is None


def test_backward_steps_yields_from_the_last_layer_to_the_first():
    rng = np.random.default_rng(0)
    model = small_net(rng)
    model.forward(rng.standard_normal((2, 2, 6, 6)))
    steps = model.backward_steps(rng.standard_normal((2, 3)))
    last = next(steps)
    assert last.index == len(model) - 1 and last.delta is not None
    assert all(e.delta is None for e in model.trace[:-1])  # nothing below the top has run yet
    indices = [last.index] + [e.index for e in steps]
    assert indices == list(range(len(model) - 1, -1, -1))
    assert all(e.delta is not None and e.grad_input is not None for e in model.trace)


def test_trace_delta_and_grad_input_follow_the_sensitivity_map_relations():
    rng = np.random.default_rng(0)
    model = small_net(rng)
    x = rng.standard_normal((3, 2, 6, 6))
    _, dloss = softmax_cross_entropy(model.forward(x), [0, 2, 1])
    model.backward(dloss)
    t = {e.name: e for e in model.trace}

    # The gradient arriving at a layer's output is its delta, and is the grad_input of the layer above.
    assert_array_equal(t["dense2"].delta, dloss)
    for below, above in zip(model.trace, model.trace[1:], strict=False):
        assert_array_equal(below.delta, above.grad_input)

    # Conv and dense layers output net, so their delta is the sensitivity map δ = ∂E/∂net = ∂E/∂out ⊙ f′(net).
    relu_mask = t["conv1"].output > 0
    assert_array_equal(t["relu1"].grad_input, t["relu1"].delta * relu_mask)
    assert_array_equal(t["conv1"].delta, t["relu1"].delta * relu_mask)
    tanh_out = t["tanh1"].output
    assert_array_equal(t["conv2"].delta, t["tanh1"].delta * (1 - tanh_out**2))
    sig = t["sigmoid1"].output
    assert_array_equal(t["dense1"].delta, t["sigmoid1"].delta * sig * (1 - sig))

    # ∂E/∂b is the sum of δ; the trace's gradients are the layers' gradients.
    assert_allclose(t["conv1"].param_grads["b"], t["conv1"].delta.sum(axis=(0, 2, 3)), rtol=1e-12, atol=0)
    assert_allclose(t["dense1"].param_grads["b"], t["dense1"].delta.sum(axis=0), rtol=1e-12, atol=0)
    assert_array_equal(t["dense1"].param_grads["W"], model.named_grads()["dense1.W"])
    assert set(t["pool1"].extras) == {"routing"}


def test_first_layers_grad_input_is_the_saliency_and_matches_finite_differences():
    rng = np.random.default_rng(3)
    model = lenet_like(rng)
    x = rng.standard_normal((2, 1, 8, 8))
    labels = np.array([3, 7])
    _, dloss = softmax_cross_entropy(model.forward(x), labels)
    assert_smooth_at_this_point(model)
    saliency = model.backward(dloss)
    assert saliency is model.trace[0].grad_input
    assert saliency.shape == x.shape

    def loss() -> float:
        return softmax_cross_entropy(model.forward(x), labels)[0]

    numerical = numerical_gradient(loss, x)
    assert relative_error(saliency, numerical) < 1e-7


def test_trace_arrays_are_flat_and_named():
    rng = np.random.default_rng(0)
    model = small_net(rng)
    model.forward(rng.standard_normal((2, 2, 6, 6)))
    assert set(model.trace[0].arrays()) == {"input", "output"}

    model.backward(np.ones((2, 3)))
    arrays = model.trace[0].arrays()
    assert {k: v.shape for k, v in arrays.items()} == {
        "input": (2, 2, 6, 6), "output": (2, 3, 6, 6), "delta": (2, 3, 6, 6), "grad_input": (2, 2, 6, 6),
        "grad.W": (3, 2, 3, 3), "grad.b": (3,),
    }
    pool = model.trace[2].arrays()
    assert set(pool) == {"input", "output", "delta", "grad_input", "extra.routing"}
    assert pool["extra.routing"].shape == (2, 3, 3, 3, 2)


def test_dropout_runs_only_when_training_and_shows_its_mask():
    rng = np.random.default_rng(0)
    model = Sequential([Flatten(), Dropout(0.5, rng=rng), Dense(8, 2, rng=rng)], input_shape=(2, 2, 2))
    x = np.ones((4, 2, 2, 2))
    model.forward(x)
    assert model.trace[1].extras == {}
    assert_array_equal(model.trace[1].output, model.trace[1].input)
    model.forward(x, train=True)
    mask = model.trace[1].extras["mask"]
    assert_array_equal(model.trace[1].output, model.trace[1].input * mask)


# Error paths


def test_backward_before_forward_is_refused():
    model = small_net(np.random.default_rng(0))
    with pytest.raises(RuntimeError, match="run forward before backward: there is nothing to propagate back"):
        model.backward(np.ones((1, 3)))


def test_wrong_input_shape_names_expected_and_got():
    model = small_net(np.random.default_rng(0))
    with pytest.raises(ShapeError, match=r"the model expects input of shape \(N, 2, 6, 6\), got \(1, 2, 6, 5\)"):
        model.forward(np.ones((1, 2, 6, 5)))
    with pytest.raises(ShapeError, match=r"expects input of shape \(N, 2, 6, 6\), got \(2, 6, 6\)"):
        model.forward(np.ones((2, 6, 6)))


def test_wrong_dloss_shape_is_refused():
    model = small_net(np.random.default_rng(0))
    model.forward(np.ones((2, 2, 6, 6)))
    with pytest.raises(ShapeError, match=r"must have the output's shape \(2, 3\), got \(2, 4\)"):
        model.backward(np.ones((2, 4)))


def test_sequential_refuses_layers_that_do_not_fit_and_duplicate_names():
    rng = np.random.default_rng(0)
    with pytest.raises(ShapeError, match=r"layer 1 \(dense1, Dense\): Dense has in_features=5 but its input has 4"):
        Sequential([Flatten(), Dense(5, 2, rng=rng)], input_shape=(1, 2, 2))
    with pytest.raises(ValueError, match=r"need one unique name per layer, got \['a', 'a'\]"):
        Sequential([ReLU(), ReLU()], input_shape=(3,), names=["a", "a"])


# Whole passes and stepped passes agree; training's backward


def test_forward_returns_the_output_that_forward_steps_leaves_in_the_trace():
    rng = np.random.default_rng(0)
    model = small_net(rng)
    x = rng.standard_normal((2, 2, 6, 6))
    out = model.forward(x)
    assert out is model.trace[-1].output
    whole = [(e.input, e.output) for e in model.trace]
    for (x_in, x_out), entry in zip(whole, model.forward_steps(x), strict=True):
        assert_array_equal(entry.input, x_in)
        assert_array_equal(entry.output, x_out)


def test_backward_returns_dx_and_backward_steps_leaves_the_same_trace():
    rng = np.random.default_rng(0)
    model = small_net(rng)
    x = rng.standard_normal((2, 2, 6, 6))
    dloss = rng.standard_normal((2, 3))
    model.forward(x)
    dx = model.backward(dloss)
    assert dx.shape == x.shape and dx is model.trace[0].grad_input
    whole = [(e.delta, e.grad_input, dict(e.param_grads)) for e in model.trace]
    model.forward(x)
    stepped = list(model.backward_steps(dloss))[::-1]
    for (delta, grad_input, grads), entry in zip(whole, stepped, strict=True):
        assert_array_equal(entry.delta, delta)
        assert_array_equal(entry.grad_input, grad_input)
        assert entry.param_grads.keys() == grads.keys()
        for k in grads:
            assert_array_equal(entry.param_grads[k], grads[k])


@pytest.mark.parametrize("make", [small_net, lenet_like], ids=["small_net", "lenet_like"])
def test_backward_params_gives_backwards_gradients_and_leaves_the_first_grad_input_none(make):
    rng = np.random.default_rng(0)
    model = make(rng)
    x = rng.standard_normal((2, *model.input_shape))
    dloss = rng.standard_normal((2, *model.output_shape))
    model.forward(x)
    model.backward(dloss)
    full = {k: v.copy() for k, v in model.named_grads().items()}
    full_trace = [(e.delta, e.grad_input) for e in model.trace]

    model.backward_params(dloss)  # after a full backward: the old saliency map must not linger in the trace
    assert model.trace[0].grad_input is None
    assert model.trace[0].delta is not None and model.trace[0].param_grads
    for entry, (delta, grad_input) in zip(model.trace[1:], full_trace[1:], strict=True):
        assert_array_equal(entry.delta, delta)
        assert_array_equal(entry.grad_input, grad_input)
    assert model.named_grads().keys() == full.keys()
    for name, value in model.named_grads().items():
        assert_array_equal(value, full[name])
    for entry, layer in zip(model.trace, model.layers, strict=True):
        assert entry.param_grads.keys() == layer.grads.keys()
        assert all(entry.param_grads[k] is layer.grads[k] for k in layer.grads)  # the layers' own arrays


def test_backward_params_is_refused_before_forward():
    model = small_net(np.random.default_rng(0))
    with pytest.raises(RuntimeError, match="run forward before backward: there is nothing to propagate back"):
        model.backward_params(np.ones((1, 3)))


# Whole-network gradient checks


@pytest.mark.parametrize(
    ("loss_fn", "targets"),
    [
        (softmax_cross_entropy, np.array([0, 2, 1])),
        (mean_squared_error, np.array([1, 1, 0])),
        (mean_squared_error, one_hot([2, 0, 1], 3) * 0.8 + 0.1),
    ],
    ids=["cross_entropy", "mse-labels", "mse-targets"],
)
def test_every_parameter_gradient_of_a_whole_network_matches_finite_differences(loss_fn, targets):
    rng = np.random.default_rng(12)
    model = small_net(rng)
    x = rng.standard_normal((3, 2, 6, 6))
    _, dloss = loss_fn(model.forward(x), targets)
    assert_smooth_at_this_point(model)
    dx = model.backward(dloss)
    analytic = {k: v.copy() for k, v in model.named_grads().items()}
    assert set(analytic) == {f"{n}.{p}" for n in ("conv1", "conv2", "dense1", "dense2") for p in "Wb"}

    def loss() -> float:
        return loss_fn(model.forward(x), targets)[0]

    for name, value in model.named_params().items():
        err = relative_error(analytic[name], numerical_gradient(loss, value))
        assert err < 1e-7, f"{name}: relative error {err:.2e}"
    assert relative_error(dx, numerical_gradient(loss, x)) < 1e-7


def test_check_model_on_lenet5():
    rng = np.random.default_rng(1)
    model = build_model(lenet5(), rng=rng)
    x = rng.random((2, 1, 28, 28))  # image-like values in [0, 1)
    labels = np.array([4, 9])
    for param in ("conv1.W", "dense3.b"):
        entries = check_model(model, x, softmax_cross_entropy, labels, param, num_samples=6,
                              rng=np.random.default_rng(1))
        assert len(entries) == 6
        shape = model.named_params()[param].shape
        assert all(len(e.index) == len(shape) for e in entries)
        for e in entries:
            assert e.relative_error < 1e-6, f"{param}{e.index}: {e.analytic} vs {e.numerical}"
            assert e.analytic == model.named_grads()[param][e.index]
    assert len(check_model(model, x, softmax_cross_entropy, labels, "dense3.b", num_samples=100)) == 10


def test_check_model_refuses_a_float32_model_and_an_unknown_parameter():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 1, 28, 28))
    model32 = build_model(lenet5("float32"), rng=rng)
    with pytest.raises(ValueError, match="gradient checks need a float64 model, this one is float32"):
        check_model(model32, x, softmax_cross_entropy, [1], "conv1.W")
    model = build_model(lenet5(), rng=rng)
    with pytest.raises(KeyError) as info:
        check_model(model, x, softmax_cross_entropy, [1], "conv9.W")
    assert "no parameter 'conv9.W'; the model has conv1.W, conv1.b, conv2.W" in str(info.value)


# Spec and parameters


def test_spec_round_trips_through_build_model():
    rng = np.random.default_rng(0)
    model = small_net(rng)
    spec = model.spec()
    assert spec["input_shape"] == [2, 6, 6] and spec["dtype"] == "float64"
    assert spec["layers"][3] == {"type": "Conv2D", "name": "conv2", "in_channels": 3, "out_channels": 4,
                                 "kernel_size": 3, "stride": 2, "padding": 1}
    twin = build_model(spec, rng=np.random.default_rng(99))
    assert twin.names == model.names
    assert twin.shapes == model.shapes
    assert {k: v.shape for k, v in twin.named_params().items()} == {k: v.shape for k, v in model.named_params().items()}
    assert twin.spec() == spec
    x = rng.standard_normal((2, 2, 6, 6))
    assert not np.allclose(twin.forward(x), model.forward(x))  # different weights so far
    twin.load_params(model.named_params())
    assert_array_equal(twin.forward(x), model.forward(x))


def test_load_params_copies_and_refuses_missing_names_and_wrong_shapes():
    rng = np.random.default_rng(0)
    model = small_net(rng)
    values = {k: v + 1.0 for k, v in model.named_params().items()}
    model.load_params(values)
    assert model.named_params()["conv1.W"] is not values["conv1.W"]
    assert_array_equal(model.named_params()["conv1.W"], values["conv1.W"])

    missing = dict(values)
    del missing["conv1.b"]
    missing["conv7.W"] = np.ones(3)
    with pytest.raises(ValueError, match=r"parameters do not match the model: missing \['conv1.b'\], "
                                         r"unexpected \['conv7.W'\]"):
        model.load_params(missing)
    wrong = dict(values, **{"dense1.W": np.ones((4, 5))})
    with pytest.raises(ValueError, match=r"dense1.W has shape \(4, 5\), the model expects \(5, 4\)"):
        model.load_params(wrong)

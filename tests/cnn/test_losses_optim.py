"""Losses (value, gradient, stability, label checks) and SGD (plain, momentum, weight decay, all-or-nothing steps)."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from cnn import (
    SGD,
    Dense,
    DivergenceError,
    Flatten,
    Sequential,
    mean_squared_error,
    numerical_gradient,
    one_hot,
    relative_error,
    softmax,
    softmax_cross_entropy,
)

# softmax_cross_entropy


def test_cross_entropy_value_and_gradient_equal_the_direct_formula():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((4, 5)) * 3
    labels = np.array([0, 4, 2, 2])
    loss, grad = softmax_cross_entropy(z, labels)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(4), labels])), rel=1e-14)
    y = np.eye(5)[labels]
    assert_allclose(grad, (p - y) / 4, rtol=0, atol=1e-15)
    assert_allclose(grad.sum(axis=1), 0.0, atol=1e-16)  # each row of p − y sums to 1 − 1


def test_cross_entropy_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((3, 4))
    labels = [1, 3, 0]
    _, grad = softmax_cross_entropy(z, labels)
    numerical = numerical_gradient(lambda: softmax_cross_entropy(z, labels)[0], z)
    assert relative_error(grad, numerical) < 1e-8


def test_cross_entropy_is_finite_and_silent_for_huge_logits():
    z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0], [1000.0, 1000.0, -1000.0]])
    # Underflow of exp(−2000) to 0 is the right answer; overflow, NaN or a division by zero would not be.
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        loss, grad = softmax_cross_entropy(z, [1, 0, 0])
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    assert loss == pytest.approx((2000.0 + np.log(3) + np.log(2)) / 3, rel=1e-14)
    assert_allclose(grad * 3, [[1, -1, 0], [-2 / 3, 1 / 3, 1 / 3], [-0.5, 0.5, 0]], atol=1e-15)
    assert_allclose(grad.sum(axis=1), 0.0, atol=1e-15)
    assert_allclose(softmax(z)[2], [0.5, 0.5, 0.0], atol=1e-300)


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        ([10, 0], r"target label 10 is not a class: labels go from 0 to 9"),
        ([0, -1], r"target label -1 is not a class: labels go from 0 to 9"),
        (np.array([1.0, 2.0]), r"targets must be 2 integer class labels, got shape \(2,\) of float64"),
        ([1, 2, 3], r"targets must be 2 integer class labels, got shape \(3,\) of int64"),
    ],
    ids=["too-large", "negative", "float", "wrong-length"],
)
def test_cross_entropy_refuses_bad_labels(targets, message):
    with pytest.raises(ValueError, match=message):
        softmax_cross_entropy(np.zeros((2, 10)), targets)


def test_softmax_rows_are_probabilities():
    p = softmax(np.random.default_rng(2).standard_normal((3, 7)) * 10)
    assert np.all(p > 0)
    assert_allclose(p.sum(axis=1), 1.0, rtol=1e-15)


# mean_squared_error and one_hot


def test_mean_squared_error_by_hand_on_one_example():
    y = np.array([[0.2, 0.7, 0.1]])
    loss, grad = mean_squared_error(y, [1])  # t = (0, 1, 0)
    assert loss == pytest.approx(0.5 * (0.04 + 0.09 + 0.01), rel=1e-14)  # ½ Σ (t − y)² = 0.07
    assert_allclose(grad, [[0.2, -0.3, 0.1]], atol=1e-16)


def test_mean_squared_error_averages_over_the_batch_and_takes_labels_or_targets():
    y = np.array([[0.2, 0.7, 0.1], [1.0, 0.0, 0.5]])
    by_label = mean_squared_error(y, [1, 0])
    by_target = mean_squared_error(y, one_hot([1, 0], 3))
    per_example = [0.5 * (0.04 + 0.09 + 0.01), 0.5 * (0.0 + 0.0 + 0.25)]
    for loss, grad in (by_label, by_target):
        assert loss == pytest.approx(np.mean(per_example), rel=1e-14)
        assert_allclose(grad, (y - np.array([[0, 1, 0], [1, 0, 0]])) / 2, atol=1e-16)
    soft = np.array([[0.1, 0.8, 0.1], [0.6, 0.2, 0.2]])
    loss, grad = mean_squared_error(y, soft)
    assert loss == pytest.approx(0.5 * np.sum((y - soft) ** 2) / 2, rel=1e-14)
    numerical = numerical_gradient(lambda: mean_squared_error(y, soft)[0], y)
    assert relative_error(grad, numerical) < 1e-8


def test_mean_squared_error_refuses_targets_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"targets must be 2 integer class labels, got shape \(2, 4\) of float64"):
        mean_squared_error(np.zeros((2, 3)), np.zeros((2, 4)))


def test_one_hot():
    assert_array_equal(one_hot([2, 0], 3), [[0, 0, 1], [1, 0, 0]])
    assert_array_equal(one_hot(1, 4), [[0, 1, 0, 0]])
    assert one_hot([0], 2, dtype=np.float32).dtype == np.float32
    with pytest.raises(ValueError, match="target label 3 is not a class: labels go from 0 to 2"):
        one_hot([3], 3)


# SGD


def tiny_model(rng=None) -> Sequential:
    rng = rng if rng is not None else np.random.default_rng(0)
    return Sequential([Flatten(), Dense(4, 3, rng=rng)], input_shape=(1, 2, 2))


def run_backward(model: Sequential, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    _, dloss = softmax_cross_entropy(model.forward(rng.standard_normal((2, 1, 2, 2))), [0, 2])
    model.backward(dloss)


def test_plain_step_is_w_minus_lr_g_exactly():
    model = tiny_model()
    run_backward(model)
    before = {k: v.copy() for k, v in model.named_params().items()}
    grads = {k: v.copy() for k, v in model.named_grads().items()}
    updates = SGD(lr=0.05).step_recorded(model)
    for name, w in model.named_params().items():
        assert_array_equal(w, before[name] - 0.05 * grads[name])
        assert_array_equal(updates[name].before, before[name])
        assert_array_equal(updates[name].after, w)
        assert_array_equal(updates[name].delta, w - before[name])


def _momentum_run(method: str) -> tuple[np.ndarray, list]:
    model = Sequential([Dense(2, 1, rng=np.random.default_rng(0))], input_shape=(2,))
    dense = model.layers[0]
    dense.params["W"][...] = [[1.0, -2.0]]
    opt = SGD(lr=0.1, momentum=0.9, weight_decay=0.01)
    results = []
    for g in ([0.5, -1.0], [0.2, 0.4], [-0.3, 0.1]):
        dense.grads = {"W": np.array([g]), "b": np.zeros(1)}
        getattr(opt, method)(model)
        results.append(dense.params["W"][0].copy())
    return dense.params["b"], results


@pytest.mark.parametrize("method", ["step", "step_recorded"])
def test_momentum_and_weight_decay_over_three_steps(method):
    # v ← μv + (g + λw), w ← w − lr·v with lr 0.1, μ 0.9, λ 0.01, worked by hand:
    # step 1: v = (0.51, −1.02)                   w = (0.949, −1.898)
    # step 2: v = 0.9·v + (0.20949, 0.38102)      w = (0.882151, −1.844302)
    # step 3: v = 0.9·v + (−0.29117849, 0.08155698) = (0.31046251, −0.40172502)
    #                                             w = (0.851104749, −1.804129498)
    b, steps = _momentum_run(method)
    assert_allclose(steps[0], [0.949, -1.898], rtol=0, atol=1e-12)
    assert_allclose(steps[1], [0.882151, -1.844302], rtol=0, atol=1e-12)
    assert_allclose(steps[2], [0.851104749, -1.804129498], rtol=0, atol=1e-12)
    assert_array_equal(b, [0.0])  # zero gradient and zero weight: decay leaves it at 0


def _finite_grads_then(model: Sequential, value: float) -> None:
    for layer in model.layers:
        for k in layer.grads:
            layer.grads[k] = np.full_like(layer.grads[k], value)


@pytest.mark.parametrize("case", ["huge-lr", "inf-grad", "nan-grad"])
def test_a_diverging_step_changes_nothing_and_says_to_lower_the_learning_rate(case):
    model = tiny_model()
    run_backward(model)
    lr = 1e308 if case == "huge-lr" else 0.1
    opt = SGD(lr=lr, momentum=0.5)
    if case == "huge-lr":
        _finite_grads_then(model, 1e-300)  # a harmless first step, to create a velocity
    opt.step_recorded(model)
    params = {k: v.copy() for k, v in model.named_params().items()}
    velocity = {k: v.copy() for k, v in opt.velocity.items()}
    assert set(velocity) == {"dense1.W", "dense1.b"}

    run_backward(model, seed=1)
    if case == "huge-lr":
        _finite_grads_then(model, 10.0)  # 1e308 · 10 overflows
    else:
        model.layers[1].grads["W"][0, 0] = np.inf if case == "inf-grad" else np.nan
    with np.errstate(over="ignore"), pytest.raises(DivergenceError) as info:
        opt.step_recorded(model)
    message = str(info.value)
    assert "dense1.W" in message
    assert f"learning rate {lr:g}" in message
    assert "nothing was changed" in message and "smaller learning rate" in message
    for name, value in model.named_params().items():
        assert_array_equal(value, params[name])
    assert set(opt.velocity) == set(velocity)
    for name, value in opt.velocity.items():
        assert_array_equal(value, velocity[name])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": 0.0}, "learning rate must be greater than 0"),
        ({"lr": -0.1}, r"learning rate must be a finite number ≥ 0, got -0.1"),
        ({"lr": float("nan")}, r"learning rate must be a finite number ≥ 0, got nan"),
        ({"lr": float("inf")}, r"learning rate must be a finite number ≥ 0, got inf"),
        ({"lr": 0.1, "momentum": 1.0}, r"momentum must be below 1, got 1.0"),
        ({"lr": 0.1, "momentum": 1.5}, r"momentum must be below 1, got 1.5"),
        ({"lr": 0.1, "momentum": -0.5}, r"momentum must be a finite number ≥ 0, got -0.5"),
        ({"lr": 0.1, "weight_decay": -1e-4}, r"weight decay must be a finite number ≥ 0, got -0.0001"),
    ],
)
def test_invalid_hyperparameters_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SGD(**kwargs)


@pytest.mark.parametrize("method", ["step", "step_recorded"])
def test_step_before_backward_is_refused(method):
    model = tiny_model()
    model.forward(np.ones((1, 1, 2, 2)))
    with pytest.raises(RuntimeError, match="no gradient for dense1.W, dense1.b: run backward before step"):
        getattr(SGD(lr=0.1), method)(model)


def test_step_updates_in_place_and_returns_nothing():
    model = tiny_model()
    run_backward(model)
    W = model.named_params()["dense1.W"]
    before = W.copy()
    grad = model.named_grads()["dense1.W"].copy()
    assert SGD(lr=0.5).step(model) is None
    assert model.named_params()["dense1.W"] is W  # the same array, changed in place
    assert_array_equal(W, before - 0.5 * grad)


def test_step_and_step_recorded_give_identical_weights_and_velocities():
    rng = np.random.default_rng(0)
    x, labels = rng.standard_normal((4, 1, 2, 2)), [0, 2, 1, 2]
    models = {"step": tiny_model(np.random.default_rng(1)), "step_recorded": tiny_model(np.random.default_rng(1))}
    opts = {name: SGD(lr=0.3, momentum=0.9, weight_decay=1e-2) for name in models}
    for _ in range(5):
        for name, model in models.items():
            _, dloss = softmax_cross_entropy(model.forward(x), labels)
            model.backward_params(dloss)
            getattr(opts[name], name)(model)
    plain, recorded = (m.named_params() for m in models.values())
    for name in plain:
        assert_array_equal(plain[name], recorded[name])
        assert_array_equal(opts["step"].velocity[name], opts["step_recorded"].velocity[name])

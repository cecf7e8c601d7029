"""Adam (cnn.optim.Adam) against torch.optim.Adam: the same weights after several steps on the same gradients, in
float64, with and without weight decay; its checks on the hyperparameters; an all-or-nothing refused step."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest
from numpy.testing import assert_allclose

from cnn import Adam, Dense, DivergenceError, Flatten, ReLU, Sequential, softmax_cross_entropy


@pytest.fixture(scope="module")
def torch() -> Any:
    """PyTorch, the reference. Absent, the tests skip with the reason, except in CI (CI=true), where it is installed
    (the `bench` extra) and its absence is a failure, never a silent skip."""
    try:
        import torch
    except ImportError:
        message = "torch not installed (pip install -e '.[bench]')"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return torch


def _model(seed: int) -> Sequential:
    rng = np.random.default_rng(seed)
    layers = [Flatten(), Dense(12, 8, rng=rng, dtype=np.float64), ReLU(), Dense(8, 3, rng=rng, dtype=np.float64)]
    return Sequential(layers, (1, 3, 4))


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
@pytest.mark.parametrize(("lr", "betas", "eps"), [(1e-3, (0.9, 0.999), 1e-8), (0.05, (0.8, 0.99), 1e-6)])
def test_adam_matches_torch_over_several_steps(torch: Any, lr: float, betas: tuple[float, float], eps: float,
                                              weight_decay: float) -> None:
    model = _model(0)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((5, 1, 3, 4)), np.array([0, 2, 1, 1, 0])
    names = list(model.named_params())
    reference = {k: torch.tensor(v.copy(), dtype=torch.float64, requires_grad=True)
                 for k, v in model.named_params().items()}
    opt = Adam(lr, betas=betas, eps=eps, weight_decay=weight_decay)
    torch_opt = torch.optim.Adam([reference[k] for k in names], lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    for _ in range(6):
        _, dlogits = softmax_cross_entropy(model.forward(x), y)
        model.backward_params(dlogits)
        grads = model.named_grads()
        for k in names:  # torch steps on our gradients: only the update rule is compared
            reference[k].grad = torch.tensor(grads[k], dtype=torch.float64)
        torch_opt.step()
        opt.step(model)
        for k, w in model.named_params().items():
            assert_allclose(w, reference[k].detach().numpy(), rtol=1e-12, atol=1e-15, err_msg=k)
    assert opt.t == 6


def test_adam_first_step_moves_each_weight_by_about_lr() -> None:
    # m̂ = g and v̂ = g² after one step, so every weight with a gradient moves by lr·g/(|g| + ε) ≈ lr.
    model = _model(2)
    rng = np.random.default_rng(3)
    _, dlogits = softmax_cross_entropy(model.forward(rng.standard_normal((4, 1, 3, 4))), [0, 1, 2, 0])
    model.backward_params(dlogits)
    grads = {k: g.copy() for k, g in model.named_grads().items()}
    before = {k: w.copy() for k, w in model.named_params().items()}
    Adam(0.01, eps=0.0).step(model)
    for k, w in model.named_params().items():
        moved = grads[k] != 0
        assert_allclose((before[k] - w)[moved], 0.01 * np.sign(grads[k][moved]), rtol=1e-12)


def test_adam_refused_step_changes_nothing() -> None:
    model = _model(4)
    _, dlogits = softmax_cross_entropy(model.forward(np.ones((2, 1, 3, 4))), [0, 1])
    model.backward_params(dlogits)
    opt = Adam(0.01)
    opt.step_recorded(model)
    before = {k: w.copy() for k, w in model.named_params().items()}
    m = {k: a.copy() for k, a in opt.m.items()}
    opt.lr = float("inf")
    with pytest.raises(DivergenceError, match="NaN or infinite"), np.errstate(invalid="ignore", over="ignore"):
        opt.step_recorded(model)
    assert opt.t == 1
    for k, w in model.named_params().items():
        assert_allclose(w, before[k], rtol=0, atol=0)
        assert_allclose(opt.m[k], m[k], rtol=0, atol=0)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"lr": 0.0}, "learning rate must be greater than 0"),
    ({"lr": -1.0}, "learning rate must be a finite number ≥ 0, got -1.0"),
    ({"lr": 0.1, "betas": (1.0, 0.9)}, "beta1 must be in \\[0, 1\\), got 1.0"),
    ({"lr": 0.1, "betas": (0.9, -0.1)}, "beta2 must be in \\[0, 1\\), got -0.1"),
    ({"lr": 0.1, "eps": float("nan")}, "eps must be a finite number ≥ 0, got nan"),
    ({"lr": 0.1, "weight_decay": -1.0}, "weight decay must be a finite number ≥ 0, got -1.0"),
])
def test_adam_refuses_bad_hyperparameters_with_the_number(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Adam(**kwargs)

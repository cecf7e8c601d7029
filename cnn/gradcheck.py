"""Gradient checks by centred finite differences: ∂L/∂θ ≈ (L(θ + ε) − L(θ − ε)) / 2ε.

Used by the tests and by the app's "verify this gradient" button. The error of the centred difference is O(ε²), so
in float64 with ε = 1e-6 agreement to ~1e-9 relative is expected wherever the function is smooth (no ReLU kink or
max-pool tie within ε of the point).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnn.layers import Array, Layer
from cnn.model import Sequential


def relative_error(analytic: Array | float, numerical: Array | float) -> float:
    """‖a − n‖ / (‖a‖ + ‖n‖), 0 when both vanish: scale-free, and defined for a whole tensor or one number."""
    a, n = np.asarray(analytic, dtype=np.float64), np.asarray(numerical, dtype=np.float64)
    denom = float(np.linalg.norm(a) + np.linalg.norm(n))
    return 0.0 if denom == 0.0 else float(np.linalg.norm(a - n)) / denom


def numerical_gradient(
    f: Callable[[], float], array: Array, indices: list[tuple[int, ...]] | None = None, eps: float = 1e-6
) -> Array:
    """Centred differences of f() with respect to `array`, which f must read; perturbed in place, then restored.

    With indices, only those entries are computed (the others stay 0); else every entry.
    """
    grad = np.zeros(array.shape, dtype=np.float64)
    for idx in indices if indices is not None else list(np.ndindex(array.shape)):
        saved = array[idx].copy()
        array[idx] = saved + eps
        plus = f()
        array[idx] = saved - eps
        minus = f()
        array[idx] = saved
        grad[idx] = (plus - minus) / (2 * eps)
    return grad


def check_layer(layer: Layer, x: Array, rng: np.random.Generator, eps: float = 1e-6) -> dict[str, float]:
    """Relative error of every gradient of `layer` at x: 'x' and each parameter name.

    Uses L = Σ out ⊙ dout with a random dout, so ∂L/∂out = dout and backward(dout) must equal ∂L/∂x.
    """
    x = x.astype(np.float64).copy()
    out = layer.forward(x)
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)
    analytic = {"x": dx, **{k: v.copy() for k, v in layer.grads.items()}}

    def loss() -> float:
        return float(np.sum(layer.forward(x) * dout))

    errors = {"x": relative_error(analytic["x"], numerical_gradient(loss, x, eps=eps))}
    for name, value in layer.params.items():
        errors[name] = relative_error(analytic[name], numerical_gradient(loss, value, eps=eps))
    return errors


@dataclass(frozen=True)
class GradCheckEntry:
    """One sampled weight: where it is, the backward pass's value, the finite difference, and how far apart they are.

    A centred difference is resolved only to about ε_machine·|E|/ε in absolute terms (~1e-9 for E ≈ 10), so the
    relative error of a single tiny gradient says little; judge a check by `overall_relative_error`.
    """

    index: tuple[int, ...]
    analytic: float
    numerical: float
    absolute_error: float
    relative_error: float


def overall_relative_error(entries: list[GradCheckEntry]) -> float:
    """‖a − n‖ / (‖a‖ + ‖n‖) over all sampled weights: a verdict that tiny gradients cannot spoil."""
    return relative_error(np.array([e.analytic for e in entries]), np.array([e.numerical for e in entries]))


def finite_difference_resolution(loss: float, eps: float = 1e-6) -> float:
    """The absolute accuracy of a centred difference in float64: rounding of E(w ± ε) divided by 2ε."""
    return float(np.finfo(np.float64).eps * max(1.0, abs(loss)) / eps)


def check_model(
    model: Sequential,
    x: Array,
    loss_fn: Callable[[Array, Any], tuple[float, Array]],
    targets: Any,
    param: str,
    num_samples: int = 8,
    rng: np.random.Generator | None = None,
    eps: float = 1e-6,
) -> list[GradCheckEntry]:
    """Compare the backward pass with finite differences for `num_samples` weights of parameter `param`.

    `param` is a name from model.named_params() ("conv1.W"). The model must be float64: float32 rounding swamps a
    finite difference. Runs forward in evaluation mode, as the visualizer does.
    """
    params = model.named_params()
    if param not in params:
        raise KeyError(f"no parameter {param!r}; the model has {', '.join(params)}")
    if model.dtype != np.float64:
        raise ValueError(f"gradient checks need a float64 model, this one is {model.dtype}")
    array = params[param]
    _, dloss = loss_fn(model.forward(x), targets)
    model.backward(dloss)
    analytic = model.named_grads()[param].copy()
    indices = sample_indices(array.shape, num_samples, rng if rng is not None else np.random.default_rng())

    def loss() -> float:
        return loss_fn(model.forward(x), targets)[0]

    numerical = numerical_gradient(loss, array, indices, eps)
    model.forward(x)  # leave the trace as it was: the unperturbed pass
    model.backward(dloss)
    return compare(analytic, numerical, indices)


def sample_indices(shape: tuple[int, ...], num_samples: int, rng: np.random.Generator) -> list[tuple[int, ...]]:
    """`num_samples` distinct positions in an array of `shape` (all of them if it is smaller), in C order."""
    size = int(np.prod(shape))
    flat = rng.choice(size, size=min(num_samples, size), replace=False)
    return [tuple(int(i) for i in np.unravel_index(k, shape)) for k in np.sort(flat)]


def compare(analytic: Array, numerical: Array, indices: list[tuple[int, ...]]) -> list[GradCheckEntry]:
    """One entry per position: the backward pass's value beside the finite difference."""
    return [
        GradCheckEntry(idx, float(analytic[idx]), float(numerical[idx]), float(abs(analytic[idx] - numerical[idx])),
                       relative_error(analytic[idx], numerical[idx]))
        for idx in indices
    ]

"""Optimizers that report what they changed: SGD, w ← w − lr·(g + λw) with optional momentum, and Adam.

Both follow PyTorch's conventions (torch.optim.SGD, torch.optim.Adam), so that results can be compared with it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cnn.errors import DivergenceError
from cnn.layers.base import Array

if TYPE_CHECKING:
    from cnn.model import Sequential


@dataclass(frozen=True)
class ParamUpdate:
    """One parameter's update: the values before, the applied Δ (after − before) and the values after."""

    before: Array
    delta: Array
    after: Array


class Optimizer(ABC):
    """What every optimizer shares: `step` in place for training, `step_recorded` all or nothing for the visualizer.

    A subclass gives `_change(name, w, g)`, the amount subtracted from w (updating its own state), and `_state` /
    `_restore`, so that a refused step leaves that state as it was.
    """

    lr: float

    @abstractmethod
    def _change(self, name: str, w: Array, g: Array) -> Array:
        """Implemented by each optimizer."""

    @abstractmethod
    def _state(self) -> object:
        """Implemented by each optimizer."""

    @abstractmethod
    def _restore(self, saved: object) -> None:
        """Implemented by each optimizer."""

    def _begin_step(self) -> None:  # noqa: B027 (a hook: doing nothing is the default, not a gap)
        """Called once before each step's parameters are visited (Adam counts its steps here)."""

    def step(self, model: Sequential) -> None:
        """w ← w − change for every parameter of `model`, in place, from its last backward pass: training's step.

        Nothing is checked for NaN or infinity: training watches its loss instead.
        """
        params, grads = self._params_and_grads(model)
        self._begin_step()
        for name, w in params.items():
            w -= self._change(name, w, grads[name])

    def step_recorded(self, model: Sequential) -> dict[str, ParamUpdate]:
        """The update `step` makes, all or nothing -> {"conv1.W": ParamUpdate(before, Δ, after), …}.

        The visualizer's step. If any new value would be NaN or infinite, nothing changes (neither the weights nor
        the optimizer's state) and DivergenceError says so.
        """
        params, grads = self._params_and_grads(model)
        saved = self._state()
        self._begin_step()
        proposed = {name: w - self._change(name, w, grads[name]) for name, w in params.items()}
        bad = [name for name, new in proposed.items() if not np.all(np.isfinite(new))]
        if bad:
            self._restore(saved)
            raise DivergenceError(
                f"this step would make {', '.join(bad)} NaN or infinite (learning rate {self.lr:g}); "
                "nothing was changed: try a smaller learning rate"
            )
        updates = {}
        for name, w in params.items():
            before = w.copy()
            w[...] = proposed[name]
            updates[name] = ParamUpdate(before=before, delta=w - before, after=w.copy())
        return updates

    @staticmethod
    def _params_and_grads(model: Sequential) -> tuple[dict[str, Array], dict[str, Array]]:
        params, grads = model.named_params(), model.named_grads()
        missing = [n for n in params if n not in grads]
        if missing:
            raise RuntimeError(f"no gradient for {', '.join(missing)}: run backward before step")
        return params, grads


def _check_hyper(lr: float, weight_decay: float) -> None:
    for name, value in (("learning rate", lr), ("weight decay", weight_decay)):
        if not math.isfinite(value) or value < 0.0:
            raise ValueError(f"{name} must be a finite number ≥ 0, got {value}")
    if lr == 0.0:
        raise ValueError("learning rate must be greater than 0")


class SGD(Optimizer):
    """SGD with PyTorch's conventions, so that results can be compared with torch.optim.SGD:

    v ← μ·v + (g + λ·w);  w ← w − lr·v   (with μ = 0 this is the seeds' w ← w − lr·∂E/∂w).
    """

    def __init__(self, lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        for name, value, low in (("learning rate", lr, 0.0), ("momentum", momentum, 0.0),
                                 ("weight decay", weight_decay, 0.0)):
            if not math.isfinite(value) or value < low:
                raise ValueError(f"{name} must be a finite number ≥ {low:g}, got {value}")
        if lr == 0.0:
            raise ValueError("learning rate must be greater than 0")
        if momentum >= 1.0:
            raise ValueError(f"momentum must be below 1, got {momentum}")
        self.lr, self.momentum, self.weight_decay = float(lr), float(momentum), float(weight_decay)
        self.velocity: dict[str, Array] = {}

    def _direction(self, name: str, w: Array, g: Array) -> Array:
        step = g + self.weight_decay * w if self.weight_decay else g
        if not self.momentum:
            return step
        v = self.velocity.get(name)
        v = step.copy() if v is None else self.momentum * v + step
        self.velocity[name] = v
        return v

    def _change(self, name: str, w: Array, g: Array) -> Array:
        return self.lr * self._direction(name, w, g)

    def _state(self) -> object:
        return {k: v.copy() for k, v in self.velocity.items()}

    def _restore(self, saved: object) -> None:
        assert isinstance(saved, dict)
        self.velocity = saved


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) as torch.optim.Adam computes it, weight decay added to the gradient (L2, not AdamW):

    g ← g + λ·w;  m ← β₁·m + (1 − β₁)·g;  v ← β₂·v + (1 − β₂)·g²;
    w ← w − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)       (t counts steps from 1)
    """

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        _check_hyper(lr, weight_decay)
        for i, beta in enumerate(betas):
            if not (math.isfinite(beta) and 0.0 <= beta < 1.0):
                raise ValueError(f"beta{i + 1} must be in [0, 1), got {beta}")
        if not (math.isfinite(eps) and eps >= 0.0):
            raise ValueError(f"eps must be a finite number ≥ 0, got {eps}")
        self.lr, self.betas, self.eps, self.weight_decay = float(lr), (float(betas[0]), float(betas[1])), float(eps), \
            float(weight_decay)
        self.t = 0
        self.m: dict[str, Array] = {}
        self.v: dict[str, Array] = {}

    def _begin_step(self) -> None:  # noqa: B027 (a hook: doing nothing is the default, not a gap)
        self.t += 1

    def _change(self, name: str, w: Array, g: Array) -> Array:
        b1, b2 = self.betas
        if self.weight_decay:
            g = g + self.weight_decay * w
        m = self.m.get(name)
        v = self.v.get(name)
        m = np.zeros_like(w) if m is None else m
        v = np.zeros_like(w) if v is None else v
        m = m + (1 - b1) * (g - m)  # torch's lerp
        v = b2 * v + (1 - b2) * (g * g)
        self.m[name], self.v[name] = m, v
        # The order of torch's single-tensor Adam, so float64 results agree to the last bits.
        step_size = self.lr / (1 - b1**self.t)
        denom = np.sqrt(v) / math.sqrt(1 - b2**self.t) + self.eps
        return step_size * (m / denom)

    def _state(self) -> object:
        return self.t, {k: a.copy() for k, a in self.m.items()}, {k: a.copy() for k, a in self.v.items()}

    def _restore(self, saved: object) -> None:
        assert isinstance(saved, tuple)
        self.t, self.m, self.v = saved

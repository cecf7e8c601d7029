"""Stochastic gradient descent that reports what it changed: w ← w − lr·(g + λw), with optional momentum."""

from __future__ import annotations

import math
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


class SGD:
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

    def step(self, model: Sequential) -> None:
        """w ← w − lr·v for every parameter of `model`, in place, from its last backward pass: training's step.

        Nothing is checked for NaN or infinity: training watches its loss instead.
        """
        params, grads = self._params_and_grads(model)
        for name, w in params.items():
            w -= self.lr * self._direction(name, w, grads[name])

    def step_recorded(self, model: Sequential) -> dict[str, ParamUpdate]:
        """w ← w − lr·v as `step` does, all or nothing -> {"conv1.W": ParamUpdate(before, Δ, after), …}.

        The visualizer's step. If any new value would be NaN or infinite, nothing changes (neither the weights nor
        the velocity) and DivergenceError says so.
        """
        params, grads = self._params_and_grads(model)
        saved_velocity = {k: v.copy() for k, v in self.velocity.items()}
        proposed = {name: w - self.lr * self._direction(name, w, grads[name]) for name, w in params.items()}
        bad = [name for name, new in proposed.items() if not np.all(np.isfinite(new))]
        if bad:
            self.velocity = saved_velocity
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

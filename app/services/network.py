"""The network a learner works on: forward, backward and update passes on a session's own weights.

Numpy in, plain payloads out (see payloads.py); nothing here knows HTTP. Each pass is computed whole when it is asked
for and stored in the session at once, so a pass that is delivered one layer at a time (the WebSocket's `next`) or
cut off by a dropped connection never leaves a session half-updated.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.encoding import Outer
from app.errors import NoBackwardYet, NoInputYet, StepRefused, UnknownName
from app.services import payloads
from app.services.sessions import SessionState
from cnn import (
    LOSSES,
    SGD,
    DivergenceError,
    Sequential,
    build_model,
    check_model,
    finite_difference_resolution,
    load_model,
    overall_relative_error,
    softmax,
    summary,
)

CLASS_LABELS = [str(d) for d in range(10)]


@dataclass
class ForwardResult:
    prediction: int
    probabilities: np.ndarray
    input: np.ndarray
    layers: list[dict[str, Any]]


@dataclass
class BackwardResult:
    target: int
    loss_name: str
    loss: float
    prediction: int
    probabilities: np.ndarray
    layers: list[dict[str, Any]]  # from the last layer to the first


@dataclass
class StepResult:
    lr: float
    momentum: float
    layers: list[dict[str, Any]]  # the layers with weights, first to last
    loss_before: float
    loss_after: float
    prediction_before: int
    prediction: int
    probabilities_before: np.ndarray
    probabilities: np.ndarray
    steps: int


class NetworkService:
    """Holds the served model's spec and starting weights; runs passes on any session's copy of them."""

    def __init__(self, model_path: Path) -> None:
        pristine = load_model(model_path, dtype="float64")  # float64: exact numbers for learners
        self.model_path = model_path
        self.spec = pristine.spec()
        self.initial_params = {k: v.copy() for k, v in pristine.named_params().items()}
        for value in self.initial_params.values():
            value.flags.writeable = False  # sessions copy these; nobody may change the originals
        self.summary = summary(self.spec)
        self._local = threading.local()

    # Models and sessions

    def _model(self, params: dict[str, np.ndarray]) -> Sequential:
        """This thread's model with `params` bound in place: a step updates the session's own arrays."""
        model: Sequential | None = getattr(self._local, "model", None)
        if model is None:
            model = build_model(self.spec, np.random.default_rng(0))
            self._local.model = model
        for name, layer in zip(model.names, model.layers, strict=True):
            for key in layer.params:
                layer.params[key] = params[f"{name}.{key}"]
        return model

    def new_session(self, session_id: str) -> SessionState:
        return SessionState(id=session_id, params={k: v.copy() for k, v in self.initial_params.items()})

    def reset(self, state: SessionState) -> None:
        """Back to the pretrained weights; the current input stays, so the learner can compare."""
        state.params = {k: v.copy() for k, v in self.initial_params.items()}
        state.velocity, state.steps, state.loss_history, state.target = {}, 0, [], None

    def model_info(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "input_shape": list(self.summary.input_shape),
            "layers": [
                {"index": r.index, "name": r.name, "kind": r.type, "output_shape": list(r.output_shape),
                 "params": r.params, **{k: v for k, v in self.spec["layers"][r.index].items() if k not in
                                        ("type", "name")}}
                for r in self.summary
            ],
            "total_params": self.summary.total_params,
            "class_labels": CLASS_LABELS,
            "losses": list(LOSSES),
        }

    # Passes

    @staticmethod
    def _batch(image: np.ndarray) -> np.ndarray:
        return image[None, None].astype(np.float64)  # (28, 28) -> (1, 1, 28, 28)

    def forward_steps(self, state: SessionState, image: np.ndarray) -> tuple[ForwardResult, Iterator[dict[str, Any]]]:
        """Run forward on a new input and store it. Returns the result and its per-layer payloads in order."""
        model = self._model(state.params)
        layers = [payloads.forward_layer(entry) for entry in model.forward_steps(self._batch(image))]
        probs = softmax(model.trace[-1].output)[0]  # type: ignore[arg-type]
        state.input, state.target = image, None
        result = ForwardResult(int(probs.argmax()), probs, image, layers)
        return result, iter(layers)

    def forward(self, state: SessionState, image: np.ndarray) -> ForwardResult:
        return self.forward_steps(state, image)[0]

    def _require_input(self, state: SessionState) -> np.ndarray:
        if state.input is None:
            raise NoInputYet("there is no input yet: draw or upload a digit and run forward first")
        return state.input

    def backward(self, state: SessionState, target: int, loss_name: str = "cross_entropy") -> BackwardResult:
        """Forward again on the stored input (cheap, and it makes the pass self-contained), then backward."""
        x = self._batch(self._require_input(state))
        model = self._model(state.params)
        logits = model.forward(x)
        loss, dlogits = LOSSES[loss_name](logits, [target])
        layers = [payloads.backward_layer(entry) for entry in model.backward_steps(dlogits)]
        probs = softmax(logits)[0]
        state.target, state.loss = target, loss_name
        return BackwardResult(target, loss_name, loss, int(probs.argmax()), probs, layers)

    def step(self, state: SessionState, lr: float, momentum: float = 0.0) -> StepResult:
        """One SGD step on the last backward's input and target. All or nothing: a step that would make any weight
        NaN or infinite is refused and the session is left exactly as it was."""
        x = self._batch(self._require_input(state))
        if state.target is None:
            raise NoBackwardYet("choose a target and run backward before applying an update")
        loss_fn = LOSSES[state.loss]
        model = self._model(state.params)
        logits_before = model.forward(x)
        loss_before, dlogits = loss_fn(logits_before, [state.target])
        model.backward(dlogits, input_grad=False)  # a step needs the weights' gradients, not the saliency map
        factors = self._delta_factors(model, lr, momentum)
        opt = SGD(lr, momentum=momentum)
        opt.velocity = {k: v.copy() for k, v in state.velocity.items()}
        try:
            updates = opt.step(model)
        except DivergenceError as e:
            raise StepRefused(str(e)) from None
        logits_after = model.forward(x)
        loss_after, _ = loss_fn(logits_after, [state.target])
        if not np.isfinite(loss_after):
            for name, u in updates.items():
                state.params[name][...] = u.before
            raise StepRefused(f"after this step the loss is {loss_after} (learning rate {lr:g}); the step was undone: "
                              "try a smaller learning rate")
        state.velocity = opt.velocity if momentum else {}
        state.steps += 1
        state.loss_history.append(loss_after)
        layers = []
        for index, (name, layer) in enumerate(zip(model.names, model.layers, strict=True)):
            if layer.params:
                mine = {k: updates[f"{name}.{k}"] for k in layer.params}
                layers.append(payloads.update_layer(index, name, layer.kind, mine,
                                                    {k: factors.get(f"{name}.{k}") for k in layer.params}))
        before, after = softmax(logits_before)[0], softmax(logits_after)[0]
        return StepResult(lr, momentum, layers, loss_before, loss_after, int(before.argmax()), int(after.argmax()),
                          before, after, state.steps)

    @staticmethod
    def _delta_factors(model: Sequential, lr: float, momentum: float) -> dict[str, Outer]:
        """Without momentum a dense layer's Δ = −lr·δ·xᵀ is an outer product, so it travels as its two factors."""
        if momentum:
            return {}
        return {
            f"{entry.name}.W": Outer(entry.delta[0], entry.input[0], -lr)
            for entry in model.trace
            if entry.kind == "Dense" and entry.delta is not None and entry.input is not None
        }

    def layer_params(self, state: SessionState, layer: str) -> dict[str, np.ndarray]:
        """The session's current weights of one layer: {"W": ..., "b": ...}."""
        found = {k.split(".", 1)[1]: v for k, v in state.params.items() if k.split(".", 1)[0] == layer}
        if not found:
            names = sorted({k.split(".", 1)[0] for k in state.params})
            raise UnknownName(f"layer {layer!r} has no weights; the layers with weights are {', '.join(names)}")
        return found

    # Checks and exports

    def gradcheck(self, state: SessionState, param: str, samples: int, seed: int) -> dict[str, Any]:
        if param not in state.params:
            raise UnknownName(f"no parameter {param!r}; the parameters are {', '.join(state.params)}")
        if state.target is None:
            raise NoBackwardYet("choose a target and run backward before checking its gradient")
        x = self._batch(self._require_input(state))
        model = self._model(state.params)
        loss_fn = LOSSES[state.loss]
        entries = check_model(model, x, loss_fn, [state.target], param, samples, np.random.default_rng(seed))
        loss = loss_fn(model.forward(x), [state.target])[0]
        return {
            "param": param,
            "entries": [{"index": list(e.index), "analytic": e.analytic, "numerical": e.numerical,
                         "absolute_error": e.absolute_error, "relative_error": e.relative_error} for e in entries],
            "relative_error": overall_relative_error(entries),
            "max_absolute_error": max(e.absolute_error for e in entries),
            "resolution": finite_difference_resolution(loss),
        }

    def export(self, state: SessionState) -> bytes:
        """The session's current tensors, float64, as an .npz: input, every layer's output (and δ and gradients
        after a backward), and the weights."""
        arrays: dict[str, np.ndarray] = {f"param/{k}": v for k, v in state.params.items()}
        if state.input is not None:
            model = self._model(state.params)
            x = self._batch(state.input)
            logits = model.forward(x)
            if state.target is not None:
                model.backward(LOSSES[state.loss](logits, [state.target])[1])
            arrays["input"] = state.input
            for entry in model.trace:
                for key, value in entry.arrays().items():
                    per_example = key in ("input", "output", "delta", "grad_input") or key.startswith("extra.")
                    arrays[f"{entry.index:02d}_{entry.name}/{key}"] = value[0] if per_example else value
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
        return buf.getvalue()

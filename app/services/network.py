"""The network a learner works on: one call per pass (forward, backward, step, reset, gradcheck, export) on a
session's own weights, each answering its response model from app.schemas. Nothing here knows HTTP; REST routes and
the WebSocket call the same methods.

Nothing is computed twice: backward starts from the forward the session's warm pass holds (app.services.warm), a step
from the gradients of the backward it follows, and the step's own forward on the new weights is both its answer and
the start of the next backward. Only when the warm pass is gone (evicted, or another process served the session's
last request) is a forward run again. Each call leaves the session consistent before it returns, so a pass delivered
one layer at a time (the WebSocket's `next`) or cut off by a dropped connection never leaves it half-updated.
"""

from __future__ import annotations

import io
import json
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from app.encoding import Outer, owned
from app.errors import InvalidRequest, NoBackwardYet, NoInputYet, SessionExpired, StepRefused, UnknownName
from app.schemas import (
    BackwardRequest,
    BackwardResponse,
    ExplainRequest,
    ExplainResponse,
    ForwardResponse,
    GradcheckEntry,
    GradcheckRequest,
    GradcheckResponse,
    ImportNoteOut,
    InputStepsResponse,
    ModelLayer,
    ModelResponse,
    ParamsResponse,
    ResetResponse,
    StepRequest,
    StepResponse,
)
from app.services import payloads
from app.services.images import ImageLimits, image_to_input
from app.services.models import UnsupportedModel, UploadedModel, check_runnable, describe
from app.services.resize import image_to_resized_input
from app.services.sessions import SessionState
from app.services.warm import WarmPass, WarmPasses
from app.training.schemas import UseResponse
from cnn import (
    LOSSES,
    SGD,
    DivergenceError,
    ModelFileError,
    Sequential,
    build_model,
    finite_difference_resolution,
    load_model,
    load_model_with_info,
    normalize_spec,
    numerical_gradient,
    overall_relative_error,
    softmax,
    summary,
)
from cnn.explain import grad_cam, occlusion, saliency
from cnn.gradcheck import compare, sample_indices

MNIST_SHAPE = (1, 28, 28)  # models reading this get MNIST's preprocessing (images.preprocess); others are resized
OWN_SPECS = 8  # architectures of trained networks whose warm passes are kept (sessions on the served one: always)
REFUSALS_BEFORE_RESET = 3
FLOAT32_MAX = float(np.finfo(np.float32).max)


def _exact(x: float) -> str:
    """A number as typed: 10.000001, 0.001, 10 (not 10.0, nor 10 for 10.000001 as :g would)."""
    return repr(float(x)).removesuffix(".0")


def _fits_float32(arrays: list[np.ndarray]) -> bool:
    """Every value finite and within float32's range, as the page receives it."""
    return all(a.size == 0 or bool(np.isfinite(a).all() and np.abs(a).max() <= FLOAT32_MAX) for a in arrays)


@dataclass(frozen=True)
class ForwardInput:
    """A new input for forward: `image` in the model's input shape, values in [0, 1], and how the server preprocessed
    it (the steps, from grayscale to centred), or None when the sender preprocessed it and so has it already (then
    forward checks it). `data`: the image bytes it was made from, kept so that forward can preprocess them again when
    they were made for another model than the session runs (the WebSocket decodes before it opens the session)."""

    image: np.ndarray
    steps: dict[str, np.ndarray] | None
    data: bytes | None = None
    shape: tuple[int, ...] = MNIST_SHAPE  # the model input shape the server preprocessed for
    limits: ImageLimits | None = None  # those `data` was decoded under
    warnings: tuple[str, ...] = ()  # what looks wrong with the result (images.doubts), said beside the input


# One sentence per explanation, for the page to show beside the map (the learner's words, not the papers').
EXPLAIN_MEANING = {
    "saliency": "How much the score of {label} would change if each pixel changed a little: bright pixels are the "
                "ones the network is most sensitive to (|∂score/∂pixel|).",
    "grad_cam": "Where the last convolution ({layer}) found evidence for {label}: its feature maps, each weighted by "
                "how much it raises the score on average, added up, and only the positive part kept (Grad-CAM).",
    "occlusion": "How much the score of {label} drops when a 6×6 patch around each pixel is blanked out: the parts "
                 "of the input the prediction cannot do without.",
}


class NetworkService:
    """Holds the served model's spec and starting weights; runs passes on any session's copy of them."""

    def __init__(self, model_path: Path, max_learning_rate: float = 10.0, warm_passes: int = 64) -> None:
        pristine, info = load_model_with_info(model_path, dtype="float64")  # float64: exact numbers for learners
        self.model_path = model_path
        self.served_meta = describe(info, model_path.name)  # labels and normalization from the file, if it says
        try:  # the limits an uploaded model meets (input size, maps the page can receive), said at start-up
            check_runnable(normalize_spec(pristine.spec()), pristine.output_shape, str(model_path))
        except UnsupportedModel as e:
            raise ModelFileError(e.message) from None
        self.max_learning_rate = max_learning_rate
        self.spec = pristine.spec()
        self.initial_params = {k: v.copy() for k, v in pristine.named_params().items()}
        for value in self.initial_params.values():
            value.flags.writeable = False  # sessions copy these; nobody may change the originals
        self.summary = summary(self.spec)
        self.input_shape = tuple(self.summary.input_shape)
        # An input as a person sees it: (H, W) for one channel, else (C, H, W). Sessions keep inputs in this shape.
        self.shown_shape = self.input_shape[1:] if self.input_shape[0] == 1 else self.input_shape
        self.warm = WarmPasses(warm_passes, self._new_model)
        # Sessions switched to a network trained in the lab (SessionState.spec) get warm passes of its architecture.
        self._own_warm: OrderedDict[str, WarmPasses] = OrderedDict()

    def _new_model(self) -> Sequential:
        return build_model(self.spec, np.random.default_rng(0))

    # Sessions and their warm passes

    def new_session(self, session_id: str) -> SessionState:
        """A session on the served weights, shared read-only until its first step (copy on write)."""
        return SessionState(id=session_id, params=dict(self.initial_params))

    @staticmethod
    def _bind(model: Sequential, params: dict[str, np.ndarray]) -> Sequential:
        """`model` computing with `params` in place: a step updates the session's own arrays."""
        for name, layer in zip(model.names, model.layers, strict=True):
            for key in layer.params:
                layer.params[key] = params[f"{name}.{key}"]
        return model

    def _warm_for(self, state: SessionState) -> WarmPasses:
        """The warm passes of the session's architecture: the served one's, or those of its own spec."""
        if state.spec is None:
            return self.warm
        key = json.dumps(state.spec, sort_keys=True)
        warm = self._own_warm.pop(key, None)
        if warm is None:
            spec = state.spec
            warm = WarmPasses(max(1, self.warm.capacity // OWN_SPECS), lambda: build_model(spec,
                                                                                          np.random.default_rng(0)))
        self._own_warm[key] = warm  # most recently used last
        while len(self._own_warm) > OWN_SPECS:
            self._own_warm.popitem(last=False)
        return warm

    @contextmanager
    def _held(self, state: SessionState) -> Iterator[WarmPass]:
        """The session's warm pass for the time of one call, bound to the session's weights."""
        warm = self._warm_for(state)
        held = warm.take(state.id)
        self._bind(held.model, state.params)
        try:
            yield held
        finally:
            if held.version != state.version:
                held.forget()
            warm.give_back(state.id, held)

    def _batch(self, state: SessionState) -> np.ndarray:
        if state.input is None and state.lost:
            raise SessionExpired("this session was lost (it was idle too long, or the server restarted), and its input "
                                 "with it: send the input again (POST /api/forward); the page does so by itself")
        if state.input is None:
            raise NoInputYet("there is no input yet: draw or upload a digit and run forward first")
        return state.input.reshape(1, *self.shape_of(state))

    # What a session's model reads and answers

    def shape_of(self, state: SessionState) -> tuple[int, ...]:
        """(C, H, W) of one input of the session's model."""
        return self.input_shape if state.spec is None else tuple(state.spec["input_shape"])

    @staticmethod
    def shown(shape: tuple[int, ...]) -> tuple[int, ...]:
        """An input as a person sees it, and as sessions keep it: (H, W) for one channel, else (C, H, W)."""
        return shape[1:] if shape[0] == 1 else shape

    def meta_of(self, state: SessionState) -> dict[str, Any]:
        """What the file of the session's model says (app.services.models.describe); {} for one trained in the lab."""
        if state.spec is None:
            return self.served_meta
        return state.model or {}

    def labels_of(self, state: SessionState) -> list[str]:
        classes = (summary(state.spec) if state.spec is not None else self.summary)[-1].output_shape[0]
        labels = self.meta_of(state).get("labels")
        return list(labels) if labels and len(labels) == classes else [str(k) for k in range(classes)]

    def _check_target(self, state: SessionState, target: int | None) -> None:
        classes = len(self.labels_of(state))
        if target is not None and target >= classes:
            raise InvalidRequest(f"target: Input should be less than or equal to {classes - 1} (the model has "
                                 f"{classes} classes, 0 to {classes - 1})")

    def preprocess(self, state: SessionState, data: bytes, limits: ImageLimits) -> ForwardInput:
        """Image bytes -> the session's model's input: MNIST's way for a 1×28×28 digit model, else the whole picture
        resized to H×W (in colour for C = 3). Slow for a large photo: the routes run it through the engine's gate."""
        shape = self.shape_of(state)
        if shape == MNIST_SHAPE:
            pre = image_to_input(data, limits)
            return ForwardInput(pre.input, steps=pre.steps, data=data, shape=shape, limits=limits,
                                warnings=tuple(pre.warnings))
        resized = image_to_resized_input(data, limits, (shape[0], shape[1], shape[2]))
        return ForwardInput(resized.input, steps=resized.steps, data=data, shape=shape, limits=limits)

    def _normalized(self, state: SessionState, image: np.ndarray) -> np.ndarray:
        """[0, 1] values -> what the model reads: (x − mean) / std per channel when its file (or the learner) gave
        them, as torchvision's Normalize does; else unchanged."""
        meta = self.meta_of(state)
        if not meta.get("mean") or not meta.get("std"):
            return image
        C = self.shape_of(state)[0]
        mean = np.asarray(meta["mean"], dtype=np.float64).reshape(C, 1, 1)
        std = np.asarray(meta["std"], dtype=np.float64).reshape(C, 1, 1)
        return ((image.reshape(C, *image.shape[-2:]) - mean) / std).reshape(image.shape)

    def _forward(self, state: SessionState, held: WarmPass) -> np.ndarray:
        """The logits of the session's input, from the warm pass when it holds them."""
        if held.version != state.version or held.logits is None:
            held.logits = held.model.forward(self._batch(state))
            held.version, held.backward = state.version, None
        return held.logits

    def _backward(self, state: SessionState, held: WarmPass, target: int, loss_name: str) -> float:
        """Backward for (target, loss) on the warm pass, unless it holds that backward already; the loss E."""
        logits = self._forward(state, held)
        if held.backward != (target, loss_name):
            held.loss, dlogits = LOSSES[loss_name](logits, [target])
            held.model.backward(dlogits)
            held.backward = (target, loss_name)
        return held.loss

    # Passes

    def check_input(self, image: np.ndarray, state: SessionState | None = None) -> np.ndarray:
        """An input sent already preprocessed: the model's input shape (or (H, W) for one channel), values in [0, 1];
        uint8 is read as n/255. The session's model, or without a session the served one."""
        shape = self.shape_of(state) if state is not None else self.input_shape
        shapes = list(dict.fromkeys([self.shown(shape), shape]))
        if tuple(image.shape) not in shapes:
            wanted = " or ".join(str(list(s)) for s in shapes)
            raise InvalidRequest(f"input has shape {list(image.shape)}; this model reads {wanted}")
        values = image / 255.0 if image.dtype == np.uint8 else image.astype(np.float64)
        if not np.isfinite(values).all() or values.min() < 0.0 or values.max() > 1.0:
            raise InvalidRequest("input values must lie in [0, 1] (white ink on black, as in MNIST)")
        return values.reshape(self.shown(shape))

    def forward(self, state: SessionState, new: ForwardInput) -> ForwardResponse:
        """Run forward on a new input and keep it. The answer carries the input only when the server made it."""
        if new.steps is None:
            new = ForwardInput(self.check_input(new.image, state), steps=None)
        elif new.shape != self.shape_of(state) and new.data is not None:  # made for another model: again, for this one
            new = self.preprocess(state, new.data, new.limits or ImageLimits())
        image = self._normalized(state, new.image.reshape(self.shown(self.shape_of(state))))
        state.input, state.target, state.lost = image, None, False
        # Kept in float32, as they travel (they are only shown): half the memory of a session holding a photo's steps.
        state.preprocess_steps = {k: v.astype(np.float32) for k, v in (new.steps or {}).items()}
        state.changed(weights=False)
        with self._held(state) as held:
            self._forward(state, held)
            result = payloads.forward_pass(held.model)
        return ForwardResponse(**dict(result), input=state.input if new.steps is not None else None,
                               input_warnings=list(new.warnings))

    def backward(self, state: SessionState, request: BackwardRequest) -> BackwardResponse:
        self._check_target(state, request.target)
        with self._held(state) as held:
            loss = self._backward(state, held, request.target, request.loss)
            layers = [payloads.backward_layer(entry) for entry in reversed(held.model.trace)]
            probs = softmax(self._forward(state, held))[0]
        state.target, state.loss = request.target, request.loss
        return BackwardResponse(target=request.target, loss_name=request.loss, loss=loss,
                                prediction=int(probs.argmax()), probabilities=probs.tolist(), layers=layers)

    def step(self, state: SessionState, request: StepRequest) -> StepResponse:
        """One SGD step towards the target, on the gradients of its backward. All or nothing: a step that would make
        any weight NaN or infinite, the loss after it infinite, or a weight or a layer's output too large for the
        float32 the page reads, is refused and the session is left as it was."""
        if request.lr > self.max_learning_rate:
            raise InvalidRequest(f"learning rate {_exact(request.lr)} is above the limit of "
                                 f"{_exact(self.max_learning_rate)}")
        self._batch(state)  # no input: say so first, whatever else is missing
        target = request.target if request.target is not None else state.target
        loss_name = request.loss or state.loss
        if target is None:
            raise NoBackwardYet("choose a target and run backward before applying an update")
        self._check_target(state, target)
        if not state.owns_params:  # copy on write: the first step gives the session weights of its own
            state.params = {k: v.copy() for k, v in state.params.items()}
        with self._held(state) as held:  # bound to the copies: the same values, so the warm pass stays valid
            loss_before = self._backward(state, held, target, loss_name)
            before = softmax(self._forward(state, held))[0]
            factors = self._delta_factors(held.model, request.lr) if not request.momentum else {}
            opt = SGD(request.lr, momentum=request.momentum)
            opt.velocity = dict(state.velocity)
            try:
                updates = opt.step_recorded(held.model)
            except DivergenceError as e:
                raise self._refused(state, str(e)) from None
            state.changed()
            loss_after = LOSSES[loss_name](self._forward(state, held), [target])[0]
            too_large = not _fits_float32([u.after for u in updates.values()]
                                          + [e.output for e in held.model.trace if e.output is not None])
            if not np.isfinite(loss_after) or too_large:
                for name, u in updates.items():
                    state.params[name][...] = u.before
                state.changed()
                what = (f"the loss is {loss_after}" if not np.isfinite(loss_after) else
                        "a weight or a layer's output is beyond float32's range (about 3.4e38)")
                raise self._refused(state, f"after this step {what} (learning rate {_exact(request.lr)}); the step "
                                           "was undone: try a smaller learning rate")
            after = payloads.forward_pass(held.model)
            layers = [
                payloads.update_layer(entry, {k: updates[f"{entry.name}.{k}"] for k in layer.params},
                                      {k: factors[f"{entry.name}.{k}"] for k in layer.params
                                       if f"{entry.name}.{k}" in factors})
                for entry, layer in zip(held.model.trace, held.model.layers, strict=True) if layer.params
            ]
        state.velocity = opt.velocity if request.momentum else {}
        state.steps += 1
        state.refused_steps = 0
        state.loss_history.append(loss_after)
        state.target, state.loss = target, loss_name
        return StepResponse(
            lr=request.lr, momentum=request.momentum, target=target, loss_name=loss_name, steps=state.steps,
            loss_before=loss_before, loss_after=loss_after, loss_history=list(state.loss_history),
            prediction_before=int(before.argmax()), prediction=after.prediction,
            probabilities_before=before.tolist(), probabilities=after.probabilities, layers=layers, forward=after)

    @staticmethod
    def _refused(state: SessionState, message: str) -> StepRefused:
        """A refused step; after REFUSALS_BEFORE_RESET of them in a row the message says the way out is a reset."""
        state.refused_steps += 1
        if state.refused_steps >= REFUSALS_BEFORE_RESET:
            message += (f". The last {state.refused_steps} steps were all refused: the weights may be too far gone. "
                        "Reset them (Reset weights on the page, or POST /api/reset) and try a smaller learning rate")
        return StepRefused(message)

    @staticmethod
    def _delta_factors(model: Sequential, lr: float) -> dict[str, Outer]:
        """Without momentum a dense layer's Δ = −lr·δ·xᵀ is an outer product, so it travels as its two factors."""
        return {
            f"{entry.name}.W": Outer(owned(entry.delta[0]), owned(entry.input[0]), -lr)
            for entry in model.trace
            if entry.kind == "Dense" and entry.delta is not None and entry.input is not None
        }

    def reset(self, state: SessionState) -> ResetResponse:
        """Back to the pretrained weights; the current input stays, so the learner can compare (unless it was made
        for an uploaded model)."""
        state.params = dict(self.initial_params)  # shared again until the next step
        if state.model is not None:  # an uploaded model's input was made for it (its size, its normalization)
            state.input, state.preprocess_steps = None, {}
        state.spec = state.model = None  # the served network again, if the session ran one trained or uploaded
        state.velocity, state.steps, state.loss_history, state.target = {}, 0, [], None
        state.refused_steps = 0
        state.changed()
        forward = None
        if state.input is not None:
            with self._held(state) as held:
                self._forward(state, held)
                forward = payloads.forward_pass(held.model)
        return ResetResponse(steps=0, message="the weights are back to the pretrained ones", forward=forward)

    def use_model(self, state: SessionState, path: Path) -> UseResponse:
        """Switch the session to a model file (a network trained in the lab): its architecture and its weights, in
        float64; the input stays, the steps and momentum start again. `reset` goes back to the served network."""
        model = load_model(path, dtype="float64")
        spec = normalize_spec(model.spec())
        if tuple(spec["input_shape"]) != self.input_shape or model.output_shape != self.summary[-1].output_shape:
            raise InvalidRequest(f"this network reads {spec['input_shape']} and gives {list(model.output_shape)}; "
                                 f"the visualizer needs {list(self.input_shape)} in and "
                                 f"{list(self.summary[-1].output_shape)} out")
        state.spec, state.params = spec, model.named_params()  # the session's own arrays, written by its steps
        state.model = None
        state.velocity, state.steps, state.loss_history, state.target = {}, 0, [], None
        state.refused_steps = 0
        state.changed()
        total = sum(w.size for w in state.params.values())
        return UseResponse(message=f"this session now runs the trained network ({total:,} parameters); reset goes "
                                   "back to the pretrained one", spec=spec, total_params=total)

    def use_upload(self, state: SessionState, uploaded: UploadedModel) -> ModelResponse:
        """Switch the session to a model the learner uploaded (app.services.models): its architecture, weights and
        description (labels, normalization). Its input goes, being made for another model; `reset` goes back."""
        state.spec, state.params, state.model = uploaded.spec, uploaded.params, uploaded.meta
        state.velocity, state.steps, state.loss_history, state.target = {}, 0, [], None
        state.input, state.preprocess_steps, state.refused_steps = None, {}, 0
        state.changed()
        return self.model_info(state)

    # Reading the session

    def model_info(self, state: SessionState | None = None) -> ModelResponse:
        """The architecture a session runs (the served one without a session, or for one that never switched)."""
        spec = state.spec if state is not None and state.spec is not None else self.spec
        rows = self.summary if spec is self.spec else summary(spec)
        meta = self.meta_of(state) if state is not None else self.served_meta
        source: Literal["served", "uploaded", "trained"] = (
            "served" if spec is self.spec else "uploaded" if state is not None and state.model else "trained")
        return ModelResponse(
            source=source,
            file=meta.get("file"),
            format=meta.get("format"),
            output=meta.get("output", "logits"),
            mean=meta.get("mean"),
            std=meta.get("std"),
            notes=[ImportNoteOut(**n) for n in meta.get("notes", [])],
            preprocessing="mnist" if tuple(rows.input_shape) == MNIST_SHAPE else "resize",
            spec=spec,
            input_shape=list(rows.input_shape),
            layers=[
                ModelLayer(index=r.index, name=r.name, kind=r.type, output_shape=list(r.output_shape), params=r.params,
                           **{k: v for k, v in spec["layers"][r.index].items() if k not in ("type", "name")})
                for r in rows
            ],
            total_params=rows.total_params,
            class_labels=self.labels_of(state) if state is not None else self._served_labels(),
            losses=list(LOSSES),
        )

    def _served_labels(self) -> list[str]:
        labels = self.served_meta.get("labels")
        return list(labels) if labels else [str(k) for k in range(self.summary[-1].output_shape[0])]

    def layer_params(self, state: SessionState, layer: str) -> ParamsResponse:
        """The session's current weights of one layer."""
        found = {k.split(".", 1)[1]: v for k, v in state.params.items() if k.split(".", 1)[0] == layer}
        if not found:
            names = sorted({k.split(".", 1)[0] for k in state.params})
            raise UnknownName(f"layer {layer!r} has no weights; the layers with weights are {', '.join(names)}")
        return ParamsResponse(layer=layer, params=found, steps=state.steps)

    def input_steps(self, state: SessionState) -> InputStepsResponse:
        if state.input is None:
            raise NoInputYet("there is no input yet: draw or upload a digit first")
        return InputStepsResponse(steps=state.preprocess_steps)

    def gradcheck(self, state: SessionState, request: GradcheckRequest) -> GradcheckResponse:
        """The held backward's gradient of sampled weights beside centred finite differences."""
        if request.param not in state.params:
            raise UnknownName(f"no parameter {request.param!r}; the parameters are {', '.join(state.params)}")
        if state.target is None:
            raise NoBackwardYet("choose a target and run backward before checking its gradient")
        target, loss_fn = state.target, LOSSES[state.loss]
        with self._held(state) as held:
            loss = self._backward(state, held, target, state.loss)
            analytic = held.model.named_grads()[request.param]
            # The differences perturb a copy of the parameter, on a scratch model: the session's weights (perhaps the
            # shared served ones) and its warm pass are never touched.
            params = dict(state.params)
            array = params[request.param] = state.params[request.param].copy()
            indices = sample_indices(array.shape, request.samples, np.random.default_rng(request.seed))
            x = self._batch(state)
            with self._warm_for(state).scratch() as scratch:
                self._bind(scratch, params)
                numerical = numerical_gradient(lambda: loss_fn(scratch.forward(x), [target])[0], array, indices)
            entries = compare(analytic, numerical, indices)
        return GradcheckResponse(
            param=request.param,
            entries=[GradcheckEntry(index=list(e.index), analytic=e.analytic, numerical=e.numerical,
                                    absolute_error=e.absolute_error, relative_error=e.relative_error) for e in entries],
            relative_error=overall_relative_error(entries),
            max_absolute_error=max(e.absolute_error for e in entries),
            resolution=finite_difference_resolution(loss),
        )

    def explain(self, state: SessionState, request: ExplainRequest) -> ExplainResponse:
        """Why the network predicts what it does on the session's input (cnn.explain), for the predicted class or the
        one asked for; on a scratch model, so the session's warm pass is left as it was."""
        x = self._batch(state)
        self._check_target(state, request.target)
        with self._warm_for(state).scratch() as scratch:
            self._bind(scratch, state.params)
            prediction = int(scratch.forward(x)[0].argmax())
            target = prediction if request.target is None else request.target
            layer = None
            if request.method == "saliency":
                values = saliency(scratch, x[0], target)
            elif request.method == "grad_cam":
                try:
                    cam = grad_cam(scratch, x[0], target)
                except ValueError as e:  # a network without a convolution
                    raise InvalidRequest(str(e)) from None
                values, layer = cam.map, cam.layer
            else:
                values = occlusion(scratch, x[0], target)
        label = self.labels_of(state)[target]
        return ExplainResponse(method=request.method, target=target, label=label, prediction=prediction,
                               map=owned(values.astype(np.float32)), layer=layer,
                               meaning=EXPLAIN_MEANING[request.method].format(label=label, layer=layer))

    def export(self, state: SessionState) -> bytes:
        """The session's current tensors, float64, as an .npz: the weights, and with an input every layer's input and
        output (and δ and gradients after a backward), from the warm pass."""
        arrays: dict[str, np.ndarray] = {f"param/{k}": v for k, v in state.params.items()}
        buf = io.BytesIO()
        with self._held(state) as held:  # the trace's arrays are the model's buffers: written out before it goes back
            if state.input is not None:
                if state.target is not None:
                    self._backward(state, held, state.target, state.loss)
                else:
                    self._forward(state, held)
                arrays["input"] = state.input
                for entry in held.model.trace:
                    for key, value in entry.arrays().items():
                        per_example = key in ("input", "output", "delta", "grad_input") or key.startswith("extra.")
                        arrays[f"{entry.index:02d}_{entry.name}/{key}"] = value[0] if per_example else value
            np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
        return buf.getvalue()

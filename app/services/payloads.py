"""Per-layer payloads: what one layer of a pass sends, as the typed models of app.schemas, built from the engine's
trace. REST responses and WebSocket messages both carry them, so a layer looks the same whichever way it arrives.

The models are built with `model_construct`: their contents come from the engine, not from a client, and validating
some 80 arrays a cycle cost as much as serialising them. Every array is taken in its wire form at once (`owned`): a
trace's arrays are the model's own buffers, which the next pass on that model overwrites, possibly before this payload
is serialised."""

from __future__ import annotations

import numpy as np

from app.encoding import Outer, owned
from app.schemas import BackwardLayer, ForwardLayer, ForwardPass, ParamChange, UpdateLayer
from cnn import LayerTrace, ParamUpdate, Sequential, softmax

# Parameters larger than this send only Δ with an update (the page adds it to the weights it already has); smaller
# ones, every conv kernel and bias, send Δ and after. Never before: the client holds those weights already.
FULL_VALUES_LIMIT = 8192

# What a layer's output is, in the seeds' words: for these the gradient at the output is δ = ∂E/∂net.
NET_KINDS = {"Conv2D", "Dense"}


def forward_pass(model: Sequential) -> ForwardPass:
    """The model's last forward, for its first example: every layer's output (batch axis dropped) and the softmax."""
    probs = softmax(model.trace[-1].output)[0]  # type: ignore[arg-type]
    return ForwardPass.model_construct(prediction=int(probs.argmax()), probabilities=probs.tolist(),
                                       layers=[forward_layer(entry) for entry in model.trace])


def forward_layer(entry: LayerTrace) -> ForwardLayer:
    assert entry.output is not None
    return ForwardLayer.model_construct(index=entry.index, name=entry.name, kind=entry.kind,
                                        output_shape=list(entry.output.shape[1:]), output=owned(entry.output[0]))


def _param_grad(entry: LayerTrace, key: str, grad: np.ndarray) -> np.ndarray | Outer:
    """A dense layer's ∂E/∂W for one example is δ·xᵀ: send its factors."""
    if entry.kind == "Dense" and key == "W" and entry.delta is not None and entry.input is not None:
        return Outer(owned(entry.delta[0]), owned(entry.input[0]))
    return owned(grad)


def backward_layer(entry: LayerTrace) -> BackwardLayer:
    """One layer after backward: ∂E/∂(its output), its parameter gradients, max-pool routing, and for the first layer
    ∂E/∂input (the saliency map)."""
    assert entry.delta is not None
    routing = entry.extras.get("routing")
    return BackwardLayer.model_construct(
        index=entry.index, name=entry.name, kind=entry.kind,
        delta_of="net" if entry.kind in NET_KINDS else "out",
        delta=owned(entry.delta[0]),
        grads={k: _param_grad(entry, k, g) for k, g in entry.param_grads.items()},
        routing=owned(routing[0]) if routing is not None else None,
        grad_input=owned(entry.grad_input[0]) if entry.index == 0 and entry.grad_input is not None else None,
    )


def update_layer(entry: LayerTrace, updates: dict[str, ParamUpdate], factors: dict[str, Outer]) -> UpdateLayer:
    """One layer's part of an SGD step: per parameter Δ, and the values after when they are small enough to send."""
    params = {}
    for key, u in updates.items():
        small = u.delta.size <= FULL_VALUES_LIMIT
        params[key] = ParamChange.model_construct(
            shape=list(u.delta.shape),
            delta=factors.get(key, u.delta),
            delta_abs_max=float(np.abs(u.delta).max()) if u.delta.size else 0.0,
            before_norm=float(np.linalg.norm(u.before)),
            after_norm=float(np.linalg.norm(u.after)),
            after=u.after if small else None,
        )
    return UpdateLayer.model_construct(index=entry.index, name=entry.name, kind=entry.kind, params=params)

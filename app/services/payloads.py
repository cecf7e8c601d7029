"""Per-layer payloads: what one layer of a pass sends to the browser. REST responses and WebSocket messages both
use them, so a layer looks the same whichever way it arrives. Arrays stay numpy here; app.encoding puts them on the
wire."""

from __future__ import annotations

from typing import Any

import numpy as np

from app.encoding import Outer
from cnn import LayerTrace, ParamUpdate

# Parameters larger than this send only Δ with an update (the page adds it to the weights it already has); smaller
# ones, every conv kernel and bias, send before, Δ and after.
FULL_VALUES_LIMIT = 8192

# What a layer's output is, in the seeds' words: for these the gradient at the output is δ = ∂E/∂net.
NET_KINDS = {"Conv2D", "Dense"}


def forward_layer(entry: LayerTrace) -> dict[str, Any]:
    """One layer after forward: its output for the first example (batch axis dropped)."""
    assert entry.output is not None
    return {
        "phase": "forward",
        "index": entry.index,
        "name": entry.name,
        "kind": entry.kind,
        "output_shape": list(entry.output.shape[1:]),
        "output": entry.output[0],
    }


def _param_grad(entry: LayerTrace, key: str, grad: np.ndarray) -> np.ndarray | Outer:
    """A dense layer's ∂E/∂W for one example is δ·xᵀ: send its factors."""
    if entry.kind == "Dense" and key == "W" and entry.delta is not None and entry.input is not None:
        return Outer(entry.delta[0], entry.input[0])
    return grad


def backward_layer(entry: LayerTrace) -> dict[str, Any]:
    """One layer after backward: ∂E/∂(its output), its parameter gradients, max-pool routing, and for the first layer
    ∂E/∂input (the saliency map)."""
    assert entry.delta is not None
    payload: dict[str, Any] = {
        "phase": "backward",
        "index": entry.index,
        "name": entry.name,
        "kind": entry.kind,
        # "net": the seeds' sensitivity map δ = ∂E/∂net; "out": ∂E/∂out, the gradient arriving at an activation, a
        # pooling or a reshaping layer.
        "delta_of": "net" if entry.kind in NET_KINDS else "out",
        "delta": entry.delta[0],
        "grads": {k: _param_grad(entry, k, g[...]) for k, g in entry.param_grads.items()},
    }
    if "routing" in entry.extras:
        # (C, OH, OW, 2): the input (row, col) each max-pool output took its maximum from, and so where its error goes.
        payload["routing"] = entry.extras["routing"][0]
    if entry.index == 0 and entry.grad_input is not None:
        payload["grad_input"] = entry.grad_input[0]
    return payload


def update_layer(index: int, name: str, kind: str, updates: dict[str, ParamUpdate],
                 factors: dict[str, Outer | None]) -> dict[str, Any]:
    """One layer's part of an SGD step: per parameter Δ, and before/after when they are small enough to send."""
    params: dict[str, Any] = {}
    for key, u in updates.items():
        entry: dict[str, Any] = {
            "shape": list(u.delta.shape),
            "delta": factors.get(key) or u.delta,
            "delta_abs_max": float(np.abs(u.delta).max()) if u.delta.size else 0.0,
            "before_norm": float(np.linalg.norm(u.before)),
            "after_norm": float(np.linalg.norm(u.after)),
        }
        if u.delta.size <= FULL_VALUES_LIMIT:
            entry["before"], entry["after"] = u.before, u.after
        params[key] = entry
    return {"phase": "update", "index": index, "name": name, "kind": kind, "params": params}

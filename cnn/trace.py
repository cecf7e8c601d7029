"""What a pass leaves behind, layer by layer, as plain data the server can stream and a learner can step through."""

from __future__ import annotations

from dataclasses import dataclass, field

from cnn.layers.base import Array


@dataclass
class LayerTrace:
    """One layer's part of the last forward and backward passes.

    `delta` is ∂E/∂(this layer's output). For Conv2D and Dense, whose output is the weighted input net, that is the
    seeds' sensitivity map δ = ∂E/∂net; for an activation layer it is ∂E/∂out of the layer before, and its
    `grad_input` is that layer's δ. `grad_input` of the first layer is ∂E/∂input, the saliency map (None after
    `Sequential.backward_params`, training's pass, which does not compute it).
    """

    index: int
    name: str
    kind: str
    input: Array | None = None
    output: Array | None = None
    delta: Array | None = None
    grad_input: Array | None = None
    param_grads: dict[str, Array] = field(default_factory=dict)
    extras: dict[str, Array] = field(default_factory=dict)

    def arrays(self) -> dict[str, Array]:
        """Every array this layer holds, flat: input, output, delta, grad_input, grad.W, extra.routing, …"""
        out: dict[str, Array] = {}
        for key in ("input", "output", "delta", "grad_input"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out.update({f"grad.{k}": v for k, v in self.param_grads.items()})
        out.update({f"extra.{k}": v for k, v in self.extras.items()})
        return out

"""The seeds' activators, f(net) and f'(net) written through out = f(net), and the multiplication by f' that
seed 000's backward ends with.
"""

from typing import Protocol

import numpy as np

from cnn.reference.array import Array


class Activator(Protocol):
    """Elementwise: `forward` gives f(net), `backward` gives f'(net) written through out = f(net)."""

    def forward(self, weighted_input: Array) -> Array: ...

    def backward(self, output: Array) -> Array: ...


class IdentityActivator:
    """f(net) = net, f' = 1 (the seed's test)."""

    def forward(self, weighted_input: Array) -> Array:
        return np.array(weighted_input, dtype=np.float64)

    def backward(self, output: Array) -> Array:
        return np.ones(np.shape(output))


class ReluActivator:
    """f(net) = max(0, net), f' = 1 where out > 0, else 0 (seed 000)."""

    def forward(self, weighted_input: Array) -> Array:
        return np.maximum(np.asarray(weighted_input, dtype=np.float64), 0.0)

    def backward(self, output: Array) -> Array:
        return (np.asarray(output) > 0).astype(np.float64)


class SigmoidActivator:
    """f(net) = 1 / (1 + e^−net), f' = o(1 − o) (seeds 000 and 002)."""

    def forward(self, weighted_input: Array) -> Array:
        return 1.0 / (1.0 + np.exp(-np.asarray(weighted_input, dtype=np.float64)))

    def backward(self, output: Array) -> Array:
        return output * (1.0 - output)


class TanhActivator:
    """f(net) = tanh(net), f' = 1 − o²."""

    def forward(self, weighted_input: Array) -> Array:
        return np.tanh(np.asarray(weighted_input, dtype=np.float64))

    def backward(self, output: Array) -> Array:
        return 1.0 - output * output


def activation_backward(delta_out: Array, output: Array, activator: Activator) -> Array:
    """∂E/∂out (…) -> δ = ∂E/∂net (…): times f'(net) written through out (seed 000's last step).

    In seed 000's `bp_sensitivity_map`, `output` is the conv layer's input, which is the layer below's
    output, and `activator` is the layer below's.
    """
    return delta_out * activator.backward(output)

"""The editor's presets: specs for 1×28×28 digits, each showing something about how networks learn."""

from __future__ import annotations

from typing import Any

from cnn.architectures import lenet5


def _spec(name: str, layers: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": name, "input_shape": [1, 28, 28], "dtype": "float32", "layers": layers}


def lenet1998() -> dict[str, Any]:
    """LeCun et al. 1998, as near as a Sequential gets: tanh and average pooling (subsampling), conv 5×5×6 (pad 2)
    and 5×5×16, then 120, 84, 10. (The original's trainable pooling coefficients and RBF outputs are left out.)"""
    return _spec("lenet1998", [
        {"type": "Conv2D", "out_channels": 6, "kernel_size": 5, "padding": 2},
        {"type": "Tanh"},
        {"type": "AvgPool2D", "size": 2},
        {"type": "Conv2D", "out_channels": 16, "kernel_size": 5},
        {"type": "Tanh"},
        {"type": "AvgPool2D", "size": 2},
        {"type": "Flatten"},
        {"type": "Dense", "out_features": 120},
        {"type": "Tanh"},
        {"type": "Dense", "out_features": 84},
        {"type": "Tanh"},
        {"type": "Dense", "out_features": 10},
    ])


def tiny() -> dict[str, Any]:
    """Two weighted layers: four 5×5 filters, then one dense layer. Trains in seconds; its filters are easy to read."""
    return _spec("tiny", [
        {"type": "Conv2D", "out_channels": 4, "kernel_size": 5},
        {"type": "ReLU"},
        {"type": "MaxPool2D", "size": 2},
        {"type": "Flatten"},
        {"type": "Dense", "out_features": 10},
    ])


def deep_sigmoid() -> dict[str, Any]:
    """A convolution, then six sigmoid dense layers: σ′ ≤ ¼, so the gradient shrinks at every layer on its way back
    and the first layers barely learn (the vanishing gradient). Compare its conv1 filters with LeNet-5's."""
    hidden = [layer for _ in range(6) for layer in ({"type": "Dense", "out_features": 32}, {"type": "Sigmoid"})]
    return _spec("deep_sigmoid", [
        {"type": "Conv2D", "out_channels": 6, "kernel_size": 5, "padding": 2},
        {"type": "Sigmoid"},
        {"type": "MaxPool2D", "size": 2},
        {"type": "Flatten"},
        *hidden,
        {"type": "Dense", "out_features": 10},
    ])


PRESETS: dict[str, tuple[str, Any]] = {
    "lenet5": ("LeNet-5 with ReLU and max-pooling: the network the visualizer shows", lambda: lenet5("float32")),
    "lenet1998": ("The 1998 LeNet: tanh and average pooling", lenet1998),
    "tiny": ("A tiny two-layer net: four filters and one dense layer", tiny),
    "deep_sigmoid": ("A deep sigmoid net where gradients vanish", deep_sigmoid),
}

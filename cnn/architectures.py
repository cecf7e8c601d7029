"""Named architectures as specs (plain data; see cnn.spec)."""

from __future__ import annotations

from typing import Any


def lenet5(dtype: str = "float64") -> dict[str, Any]:
    """LeNet-5 for 1×28×28 digits, with ReLU and max-pooling: the network the visualizer shows.

    conv 5×5×6 (pad 2) → ReLU → pool 2 → conv 5×5×16 → ReLU → pool 2 → dense 120 → ReLU → dense 84 → ReLU → dense 10.
    """
    return {
        "name": "lenet5",
        "input_shape": [1, 28, 28],
        "dtype": dtype,
        "layers": [
            {"type": "Conv2D", "out_channels": 6, "kernel_size": 5, "padding": 2},
            {"type": "ReLU"},
            {"type": "MaxPool2D", "size": 2},
            {"type": "Conv2D", "out_channels": 16, "kernel_size": 5},
            {"type": "ReLU"},
            {"type": "MaxPool2D", "size": 2},
            {"type": "Flatten"},
            {"type": "Dense", "out_features": 120},
            {"type": "ReLU"},
            {"type": "Dense", "out_features": 84},
            {"type": "ReLU"},
            {"type": "Dense", "out_features": 10},
        ],
    }


def vgg16(dtype: str = "float64") -> dict[str, Any]:
    """VGG16 on 3×224×224, as in the table of seed 001: 13 conv 3×3 (pad 1) in five blocks with 2×2 max-pooling,
    then dense 4096, 4096, 1000 with dropout. 138,357,544 parameters."""
    layers: list[dict[str, Any]] = []
    for block, (channels, convs) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)], start=1):
        for j in range(1, convs + 1):
            layers += [
                {"type": "Conv2D", "name": f"block{block}_conv{j}", "out_channels": channels, "kernel_size": 3,
                 "padding": 1},
                {"type": "ReLU", "name": f"block{block}_relu{j}"},
            ]
        layers.append({"type": "MaxPool2D", "name": f"block{block}_pool", "size": 2})
    layers += [
        {"type": "Flatten"},
        {"type": "Dense", "name": "fc1", "out_features": 4096},
        {"type": "ReLU", "name": "fc1_relu"},
        {"type": "Dropout", "name": "fc1_dropout", "p": 0.5},
        {"type": "Dense", "name": "fc2", "out_features": 4096},
        {"type": "ReLU", "name": "fc2_relu"},
        {"type": "Dropout", "name": "fc2_dropout", "p": 0.5},
        {"type": "Dense", "name": "predictions", "out_features": 1000},
    ]
    return {"name": "vgg16", "input_shape": [3, 224, 224], "dtype": dtype, "layers": layers}


SPECS = {"lenet5": lenet5, "vgg16": vgg16}

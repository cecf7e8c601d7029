"""Layers: NCHW arrays, `forward(x)`, `backward(dout) -> dx`, `params` and `grads` with the same keys."""

from cnn.layers.activations import Identity, LeakyReLU, ReLU, Sigmoid, Tanh
from cnn.layers.base import Array, Layer, Shape
from cnn.layers.conv import Conv2D
from cnn.layers.dense import Dense, Dropout, Flatten
from cnn.layers.normalization import BatchNorm
from cnn.layers.pad import ZeroPad2D
from cnn.layers.pool import AvgPool2D, GlobalAvgPool2D, MaxPool2D

LAYER_TYPES: dict[str, type[Layer]] = {
    cls.kind: cls
    for cls in (
        Conv2D, MaxPool2D, AvgPool2D, Dense, Flatten, Dropout, ReLU, Sigmoid, Tanh, Identity,
        # ONNX import needs these too: models arrive with them (or with uneven padding, ZeroPad2D's job).
        LeakyReLU, BatchNorm, ZeroPad2D, GlobalAvgPool2D,
    )
}

__all__ = [
    "LAYER_TYPES",
    "Array",
    "AvgPool2D",
    "BatchNorm",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalAvgPool2D",
    "Identity",
    "Layer",
    "LeakyReLU",
    "MaxPool2D",
    "ReLU",
    "Shape",
    "Sigmoid",
    "Tanh",
    "ZeroPad2D",
]

"""Layers: NCHW arrays, `forward(x)`, `backward(dout) -> dx`, `params` and `grads` with the same keys."""

from cnn.layers.activations import Identity, ReLU, Sigmoid, Tanh
from cnn.layers.base import Array, Layer, Shape
from cnn.layers.conv import Conv2D
from cnn.layers.dense import Dense, Dropout, Flatten
from cnn.layers.pool import AvgPool2D, MaxPool2D

LAYER_TYPES: dict[str, type[Layer]] = {
    cls.kind: cls
    for cls in (Conv2D, MaxPool2D, AvgPool2D, Dense, Flatten, Dropout, ReLU, Sigmoid, Tanh, Identity)
}

__all__ = [
    "LAYER_TYPES",
    "Array",
    "AvgPool2D",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "Identity",
    "Layer",
    "MaxPool2D",
    "ReLU",
    "Shape",
    "Sigmoid",
    "Tanh",
]

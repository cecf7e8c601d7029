"""The pretrained default model, shipped inside the package so every install has a network that reads digits."""

from __future__ import annotations

from pathlib import Path

from cnn.io import load_model
from cnn.model import Sequential

PRETRAINED_PATH = Path(__file__).with_name("lenet5.npz")


def load_pretrained() -> Sequential:
    """LeNet-5 trained on MNIST (see the README for the command, its accuracy and training time)."""
    return load_model(PRETRAINED_PATH)

"""What ships inside the package: the pretrained default model and a handful of sample digits.

The samples are the first image of each class in the MNIST test set (LeCun, Cortes, Burges; CC BY-SA 3.0), so the
demo and the app have digits to show before anyone draws one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnn.model import Sequential
from cnn.modelfile import load_model

PRETRAINED_PATH = Path(__file__).with_name("lenet5.npz")
SAMPLES_PATH = Path(__file__).with_name("samples.npz")


def load_pretrained(dtype: str | None = None) -> Sequential:
    """LeNet-5 trained on MNIST (see the README for the command, its accuracy and training time).

    Stored in float32, as trained; dtype="float64" gives the exact arithmetic the visualizer shows.
    """
    return load_model(PRETRAINED_PATH, dtype=dtype)


def load_samples() -> tuple[np.ndarray, np.ndarray]:
    """Ten MNIST test digits, one per class: images uint8 (10, 28, 28) and labels (10,), in class order."""
    with np.load(SAMPLES_PATH, allow_pickle=False) as data:
        return data["images"], data["labels"]

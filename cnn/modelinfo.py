"""What a model file says about its model besides layers and weights: one ModelInfo, whichever format it came in.

The metadata keys read from a file (an .npz header's `metadata`, an ONNX model's `metadata_props`):

    labels   the class names, in output order: a JSON list of strings, or the names separated by commas
    mean     per input channel, subtracted from the pixel values (scaled to [0, 1]) before the model sees them
    std      per input channel, what the centred values are divided by; mean and std come together or not at all

Both `mean` and `std` are a JSON list of C numbers, or C numbers separated by commas.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cnn.errors import ModelFileError

OUTPUTS = ("logits", "probabilities", "log-probabilities")


@dataclass(frozen=True)
class ImportNote:
    """One thing the import did to a node of the file instead of making it a layer of its own."""

    op: str  # the file's operator, e.g. "BatchNormalization"
    node: str  # the node's name in the file
    action: str  # "folded into conv1", "dropped", "read as flatten1", …
    why: str  # in plain words, for the summary the page shows

    def __str__(self) -> str:
        return f"{self.op} node {self.node!r}: {self.action} ({self.why})"


@dataclass(frozen=True)
class ModelInfo:
    """A loaded model's description: where it came from and how to feed it and read its output.

    input_shape: (C, H, W) of one example. output: what the file's model returned: "logits", or "probabilities" /
    "log-probabilities" when it ended in Softmax / LogSoftmax, which the engine's model leaves out (the loss applies
    it), so the engine's model always returns logits. labels, mean, std: see the module docstring; None when the file
    does not say. notes: what the import folded, dropped or rewrote (empty for an .npz). opset and producer: the
    ONNX operator set and the program that wrote the file. extra: the file's other metadata, as it stands there.
    """

    format: str  # "npz" or "onnx"
    input_shape: tuple[int, ...]
    output: str = "logits"
    labels: tuple[str, ...] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    notes: tuple[ImportNote, ...] = ()
    opset: int | None = None
    producer: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _strings(value: Any) -> list[str]:
    """A JSON list, or the text split at commas."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = [part.strip() for part in value.split(",")]
    if not isinstance(value, list | tuple):
        value = [value]
    return [str(v) for v in value]


def read_normalization(source: str, metadata: dict[str, Any], channels: int) -> tuple[tuple[float, ...] | None, ...]:
    """(mean, std) from the metadata, each C numbers, or (None, None); a malformed pair raises ModelFileError."""
    if "mean" not in metadata and "std" not in metadata:
        return None, None
    if "mean" not in metadata or "std" not in metadata:
        raise ModelFileError(f"{source}: the metadata gives {'mean' if 'mean' in metadata else 'std'} without "
                             f"{'std' if 'mean' in metadata else 'mean'}; normalization needs both")
    pair = []
    for key in ("mean", "std"):
        try:
            numbers = tuple(float(v) for v in _strings(metadata[key]))
        except ValueError:
            message = f"{source}: metadata {key} must be {channels} numbers, got {metadata[key]!r}"
            raise ModelFileError(message) from None
        if len(numbers) != channels:
            raise ModelFileError(f"{source}: metadata {key} has {len(numbers)} numbers, the input has {channels} "
                                 f"channel{'s' if channels > 1 else ''}")
        pair.append(numbers)
    if not all(s > 0 for s in pair[1]):
        raise ModelFileError(f"{source}: metadata std must be positive, got {list(pair[1])}")
    return pair[0], pair[1]


def read_labels(source: str, metadata: dict[str, Any], classes: int) -> tuple[str, ...] | None:
    """The class names from the metadata, one per output, or None."""
    if "labels" not in metadata:
        return None
    labels = tuple(_strings(metadata["labels"]))
    if len(labels) != classes:
        raise ModelFileError(f"{source}: metadata labels names {len(labels)} classes, the model has {classes} outputs")
    return labels


__all__ = ["OUTPUTS", "ImportNote", "ModelInfo", "read_labels", "read_normalization"]

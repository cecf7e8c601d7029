"""A spec checked layer by layer for the editor: each layer's output shape and parameter count, or its error with
the numbers, going on past an error wherever a following layer's input shape can still be known.

cnn.spec.normalize_spec stops at the first error, as building a model must; the editor wants every error at once.
Each layer is checked here by the same rules (normalize_spec and summary on a one-layer spec), so the two can never
disagree about what is valid.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from cnn.errors import ShapeError, SpecError
from cnn.layers import LAYER_TYPES
from cnn.model import default_names
from cnn.spec import DTYPES, normalize_spec, summary

_LABEL = re.compile(r"^layer 0 \([^)]*\): ")
NUM_CLASSES = 10  # MNIST's digits: a network trained in the lab ends in 10 outputs
MNIST_SHAPE = (1, 28, 28)


@dataclass
class LayerCheck:
    index: int
    name: str
    type: str
    output_shape: list[int] | None = None  # None where it cannot be known
    params: int | None = None
    error: str | None = None  # what is wrong with this layer, with the numbers


@dataclass
class SpecCheck:
    layers: list[LayerCheck] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # every problem, each naming its layer (or the whole spec)
    total_params: int | None = None  # None unless every layer's count is known

    @property
    def ok(self) -> bool:
        return not self.errors


def _int(value: Any, default: int | None = None) -> int | None:
    value = default if value is None else value
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _pair(value: Any) -> tuple[int, int] | None:
    if isinstance(value, list | tuple) and len(value) == 2:
        a, b = _int(value[0]), _int(value[1])
        return (a, b) if a and b else None
    k = _int(value)
    return (k, k) if k else None


def _guess(kind: str, shape: tuple[int, ...], config: dict[str, Any]) -> tuple[int, ...] | None:
    """The output shape a layer in error would most plausibly give, so the layers after it can still be checked: a
    stride that does not fit rounds down (as PyTorch does), a Dense layer reads its input flattened. None when there
    is no sensible guess (a kernel larger than its input)."""
    if kind in ("ReLU", "Sigmoid", "Tanh", "Identity", "Dropout", "LeakyReLU", "BatchNorm"):
        return shape
    if kind == "Flatten":
        return (math.prod(shape),)
    if kind == "Dense":
        k = _int(config.get("out_features"))
        return (k,) if k else None
    if kind in ("Conv2D", "MaxPool2D", "AvgPool2D") and len(shape) == 3:
        if kind == "Conv2D":
            channels, kernel = _int(config.get("out_channels")), _pair(config.get("kernel_size"))
            stride, padding = _pair(config.get("stride", 1)), _int(config.get("padding"), 0)
        else:
            channels, kernel = shape[0], _pair(config.get("size"))
            stride, padding = _pair(config.get("stride") or config.get("size")), 0
        if not (channels and kernel and stride and padding is not None):
            return None
        sizes = [(n + 2 * padding - k) // s + 1 for n, k, s in zip(shape[1:], kernel, stride, strict=True)]
        return (channels, *sizes) if min(sizes) >= 1 else None
    return None


def check_spec(spec: Any, input_shape: tuple[int, ...] | None = MNIST_SHAPE) -> SpecCheck:
    """Per layer the output shape and parameter count, or the error; `errors` lists every problem found.

    `input_shape`: the shape the spec must read (MNIST's by default; None accepts any) — and then it must end in
    NUM_CLASSES outputs, one per digit.
    """
    result = SpecCheck()
    if not isinstance(spec, dict):
        result.errors.append('a spec is a JSON object: {"input_shape": [1, 28, 28], "layers": [...]}')
        return result
    unknown = sorted(set(spec) - {"input_shape", "layers", "dtype", "name"})
    if unknown:
        result.errors.append(f"unknown spec keys {unknown}; a spec has input_shape, layers, dtype, name")
    shape_value = spec.get("input_shape", list(input_shape) if input_shape else None)
    shape: tuple[int, ...] | None = None
    if (isinstance(shape_value, list) and shape_value
            and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape_value)):
        shape = tuple(shape_value)
        if input_shape is not None and shape != input_shape:
            result.errors.append(f"input_shape is {list(shape)}; MNIST digits are {list(input_shape)}")
    else:
        result.errors.append(f"input_shape must be a list of positive integers, got {shape_value!r}")
    if spec.get("dtype", "float64") not in DTYPES:
        result.errors.append(f"dtype must be one of {', '.join(DTYPES)}, got {spec.get('dtype')!r}")
    entries = spec.get("layers")
    if not isinstance(entries, list) or not entries:
        result.errors.append("layers must be a non-empty list of layers such as {\"type\": \"ReLU\"}")
        return result
    kinds = [str(e["type"]) if isinstance(e, dict) and isinstance(e.get("type"), str) else "layer" for e in entries]
    names = default_names(kinds)
    unknown_from: int | None = None  # the layer whose output shape could not be known
    for i, entry in enumerate(entries):
        row = LayerCheck(i, names[i], kinds[i])
        result.layers.append(row)
        if not isinstance(entry, dict):
            row.error = f"each layer is an object such as {{\"type\": \"ReLU\"}}, got {entry!r}"
        elif entry.get("type") not in LAYER_TYPES:
            row.error = f"unknown layer type {entry.get('type')!r}; known types: {', '.join(LAYER_TYPES)}"
        if isinstance(entry, dict) and "name" in entry:
            row.name = str(entry["name"])
        if row.error is None and shape is None:
            row.error = (f"not checked: the output shape of layer {unknown_from} is unknown" if unknown_from is not None
                         else "not checked: the input shape is not valid")
        elif row.error is None and shape is not None:
            assert isinstance(entry, dict)
            one = {"input_shape": list(shape), "layers": [{**entry, "name": row.name}]}
            try:
                checked = summary(normalize_spec(one))[0]
                row.output_shape, row.params = list(checked.output_shape), checked.params
            except (ShapeError, SpecError) as e:
                row.error = _LABEL.sub("", str(e))
        if row.error is not None:
            if not row.error.startswith("not checked"):
                result.errors.append(f"layer {i} ({row.name}, {row.type}): {row.error}")
            config = {k: v for k, v in entry.items() if k not in ("type", "name")} if isinstance(entry, dict) else {}
            guessed = _guess(row.type, shape, config) if shape is not None else None
            if guessed is None and shape is not None:
                unknown_from = i
            shape = guessed
        else:
            assert row.output_shape is not None
            shape = tuple(row.output_shape)
    seen: set[str] = set()
    for row in result.layers:
        if row.name in seen:
            result.errors.append(f"layer {row.index}: the name {row.name!r} is used twice; layer names must be unique")
        seen.add(row.name)
    if input_shape is not None and shape is not None and shape != (NUM_CLASSES,):
        result.errors.append(f"the last layer gives {list(shape)}; a digit classifier ends in {NUM_CLASSES} outputs, "
                             f"one per digit (a Dense layer with out_features {NUM_CLASSES})")
    if all(row.params is not None for row in result.layers):
        result.total_params = sum(row.params or 0 for row in result.layers)
    return result

"""Architecture specs: plain JSON-able data that says what network to build.

    {"input_shape": [1, 28, 28], "dtype": "float64",
     "layers": [{"type": "Conv2D", "out_channels": 6, "kernel_size": 5, "padding": 2}, {"type": "ReLU"}, …]}

`in_channels` and `in_features` may be left out: the shapes imply them. `summary(spec)` works from shapes alone,
so a summary of VGG16 allocates none of its 138 M weights.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnn.errors import ShapeError, SpecError
from cnn.layers import LAYER_TYPES, Layer, Shape
from cnn.model import Sequential, default_names

DTYPES = ("float64", "float32")
_NOT_CONFIG = {"self", "rng", "dtype"}


@dataclass(frozen=True)
class SummaryRow:
    index: int
    name: str
    type: str
    output_shape: Shape
    params: int


class Summary(list[SummaryRow]):
    """Per layer the type, output shape and parameter count; `total_params` adds them up."""

    def __init__(self, rows: list[SummaryRow], input_shape: Shape) -> None:
        super().__init__(rows)
        self.input_shape = input_shape

    @property
    def total_params(self) -> int:
        return sum(row.params for row in self)

    def __str__(self) -> str:
        lines = [f"{'layer':<14}{'type':<11}{'output shape':>18}{'params':>14}", "-" * 57]
        lines.append(f"{'input':<14}{'':<11}{str(self.input_shape):>18}{0:>14,}")
        lines += [f"{r.name:<14}{r.type:<11}{str(r.output_shape):>18}{r.params:>14,}" for r in self]
        lines += ["-" * 57, f"{'total':<43}{self.total_params:>14,}"]
        return "\n".join(lines)


def _constructor_args(cls: type[Layer]) -> tuple[set[str], set[str]]:
    """(all accepted config keys, the required ones), read from the layer's constructor."""
    sig = inspect.signature(cls.__init__)
    names = {p for p in sig.parameters if p not in _NOT_CONFIG}
    required = {p for p, v in sig.parameters.items() if p not in _NOT_CONFIG and v.default is inspect.Parameter.empty}
    return names, required


def _positive_ints(value: Any, what: str) -> Shape:
    if not isinstance(value, list | tuple) or not value or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
    ):
        raise SpecError(f"{what} must be a list of positive integers, got {value!r}")
    return tuple(value)


def normalize_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Check a spec and fill in what the shapes imply; every layer gets a name and a complete config.

    Raises SpecError for a malformed spec and ShapeError, naming the layer and the numbers, for shapes that do not
    fit. Returns a new dict; the argument is not changed.
    """
    if not isinstance(spec, dict):
        raise SpecError(f"a spec is a dict with input_shape and layers, got {type(spec).__name__}")
    unknown = set(spec) - {"input_shape", "layers", "dtype", "name"}
    if unknown:
        raise SpecError(f"unknown spec keys {sorted(unknown)}; expected input_shape, layers, dtype, name")
    shape = _positive_ints(spec.get("input_shape"), "input_shape")
    dtype = spec.get("dtype", "float64")
    if dtype not in DTYPES:
        raise SpecError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    entries = spec.get("layers")
    if not isinstance(entries, list) or not entries:
        raise SpecError("layers must be a non-empty list of layer dicts")
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise SpecError(f"layer {i}: each layer is a dict such as {{\"type\": \"ReLU\"}}, got {entry!r}")
        if entry.get("type") not in LAYER_TYPES:
            known = ", ".join(LAYER_TYPES)
            raise SpecError(f"layer {i}: unknown layer type {entry.get('type')!r}; known types: {known}")
    names = default_names([e["type"] for e in entries])
    layers = []
    for i, entry in enumerate(entries):
        cls = LAYER_TYPES[entry["type"]]
        name = str(entry.get("name", names[i]))
        label = f"layer {i} ({name}, {cls.kind})"
        config = {k: v for k, v in entry.items() if k not in ("type", "name")}
        accepted, required = _constructor_args(cls)
        if set(config) - accepted:
            raise SpecError(f"{label}: unknown arguments {sorted(set(config) - accepted)}; it takes {sorted(accepted)}")
        try:
            config = cls.complete_config(config, shape)
            if required - set(config):
                raise SpecError(f"{label}: missing arguments {sorted(required - set(config))}")
            shape, _ = cls.shape_rule(shape, **config)
        except ShapeError as e:
            raise ShapeError(f"{label}: {e}") from None
        except (TypeError, KeyError) as e:
            raise SpecError(f"{label}: bad arguments {config}: {e}") from None
        layers.append({"type": cls.kind, "name": name, **config})
    if len({layer["name"] for layer in layers}) != len(layers):
        raise SpecError("layer names must be unique")
    out = {"input_shape": list(spec["input_shape"]), "dtype": dtype, "layers": layers}
    if "name" in spec:
        out["name"] = spec["name"]
    return out


def summary(spec: dict[str, Any]) -> Summary:
    """Per layer its type, output shape and parameter count, from shapes alone (no weights are allocated)."""
    spec = normalize_spec(spec)
    shape: Shape = tuple(spec["input_shape"])
    rows = []
    for i, layer in enumerate(spec["layers"]):
        config = {k: v for k, v in layer.items() if k not in ("type", "name")}
        shape, params = LAYER_TYPES[layer["type"]].shape_rule(shape, **config)
        rows.append(SummaryRow(i, layer["name"], layer["type"], shape, params))
    return Summary(rows, tuple(spec["input_shape"]))


def build_model(spec: dict[str, Any], rng: np.random.Generator | None = None) -> Sequential:
    """Build the network a spec describes, weights drawn from `rng` (He initialisation, zero biases)."""
    spec = normalize_spec(spec)
    rng = rng if rng is not None else np.random.default_rng()
    dtype = np.dtype(spec["dtype"])
    layers: list[Layer] = []
    for entry in spec["layers"]:
        cls = LAYER_TYPES[entry["type"]]
        config = {k: v for k, v in entry.items() if k not in ("type", "name")}
        sig = inspect.signature(cls.__init__).parameters
        extra = {k: v for k, v in (("rng", rng), ("dtype", dtype)) if k in sig}
        layers.append(cls(**config, **extra))
    return Sequential(layers, tuple(spec["input_shape"]), names=[e["name"] for e in spec["layers"]])


__all__ = ["Summary", "SummaryRow", "build_model", "normalize_spec", "summary"]

"""A lesson checked against the served model: every layer, index and name a card's setup and answer expressions
mention must exist, so that a teacher's typo is refused with the card and field named. The page evaluates the same
expression grammar (static/js/lessons/expr.js); here it is only parsed."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.lesson_schema import CONFIG_FIELDS, LAB_FIELDS, Card, LessonError, Setup
from app.training.presets import PRESETS


@dataclass(frozen=True)
class LayerRef:
    index: int
    name: str
    type: str
    output_shape: tuple[int, ...]
    input_shape: tuple[int, ...]
    config: dict[str, Any]

    def param_shape(self, key: str) -> tuple[int, ...] | None:
        c = self.config
        if self.type == "Conv2D":
            return (c["out_channels"], c["in_channels"], c["kernel_size"], c["kernel_size"]) if key == "W" \
                else (c["out_channels"],)
        if self.type == "Dense":
            return (c["out_features"], c["in_features"]) if key == "W" else (c["out_features"],)
        return None


@dataclass(frozen=True)
class ModelRef:
    """What a lesson may name: the served model's layers, their shapes and settings."""

    layers: tuple[LayerRef, ...]
    input_shape: tuple[int, ...]

    @classmethod
    def of(cls, spec: dict[str, Any], rows: Sequence[Any], input_shape: Sequence[int]) -> ModelRef:
        shapes = [tuple(input_shape), *(tuple(r.output_shape) for r in rows)]
        return cls(tuple(LayerRef(r.index, r.name, r.type, tuple(r.output_shape), shapes[r.index],
                                  {k: v for k, v in spec["layers"][r.index].items() if k in CONFIG_FIELDS})
                         for r in rows), tuple(input_shape))

    def layer(self, name: str) -> LayerRef:
        for L in self.layers:
            if L.name == name:
                return L
        names = ", ".join(x.name for x in self.layers)
        raise LessonError(f"no layer {name!r} in the served model (its layers: {names})")


# ------------------------------------------------------------------------------------------- answer expressions

_TOKEN = re.compile(r"\s*(?:(\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+)|([A-Za-z_][\w]*(?:\.\w+)*(?:\[[\d,\s]+\])?)|(.))")


def paths_of(expr: str) -> list[tuple[str, list[int] | None]]:
    """The paths an expression reads, each as (dotted name, index or None), after checking its syntax: numbers,
    paths, + − * / ^ and parentheses (the grammar of static/js/lessons/expr.js)."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(expr.rstrip()):
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            break
        number, path, op = m.groups()
        if op is not None and op not in "+-*/^()":
            raise LessonError(f"unexpected {op!r} at {pos + 1} in {expr!r}")
        tokens.append(("n", number) if number else ("p", path) if path else ("o", op))
        pos = m.end()
    paths: list[tuple[str, list[int] | None]] = []
    # Check the shape of the sequence: operands and binary operators alternate, parentheses balance.
    depth, want_operand = 0, True
    for kind, text in tokens:
        if want_operand:
            if kind == "o" and text == "(":
                depth += 1
            elif kind == "o" and text == "-":
                pass
            elif kind in "np":
                want_operand = False
                if kind == "p":
                    name, _, rest = text.partition("[")
                    paths.append((name, [int(v) for v in rest.rstrip("]").split(",")] if rest else None))
            else:
                raise LessonError(f"a number or a name was expected before {text!r} in {expr!r}")
        elif kind == "o" and text == ")":
            depth -= 1
            if depth < 0:
                raise LessonError(f"a ')' without its '(' in {expr!r}")
        elif kind == "o" and text in "+-*/^":
            want_operand = True
        else:
            raise LessonError(f"an operator was expected before {text!r} in {expr!r}")
    if want_operand or depth:
        raise LessonError(f"{expr!r} ends too early" if want_operand else f"a '(' is not closed in {expr!r}")
    return paths


def _check_index(idx: list[int] | None, shape: Sequence[int], what: str) -> None:
    if idx is None:
        raise LessonError(f"{what} needs an index [..] of {len(shape)} numbers (its shape is {list(shape)})")
    if len(idx) != len(shape) or any(not 0 <= i < n for i, n in zip(idx, shape, strict=False)):
        raise LessonError(f"{what}{idx} is out of range: its shape is {list(shape)}")


def revealed_count(setup: Setup, model: ModelRef) -> int:
    """How many layers of the backward pass the setup reveals, from the loss."""
    r, n = setup.revealed, len(model.layers)
    if r is None:
        return 0
    if isinstance(r, int):
        return min(max(r, 0), n)
    if r == "all":
        return n
    return n - model.layer(r).index


def check_path(name: str, idx: list[int] | None, setup: Setup, model: ModelRef) -> None:
    """Refuse a path that names nothing in the served model, or reads a number the card's setup does not produce."""
    head, *rest = name.split(".")
    scalar = {"loss", "prediction", "target", "lr", "momentum", "selected"}
    if head in scalar and not rest:
        if idx is not None:
            raise LessonError(f"{head} is one number: it takes no index")
        if head == "selected" and setup.selection is None:
            raise LessonError("'selected' needs setup.selection")
        if head == "lr" and setup.lr is None:
            raise LessonError("'lr' needs setup.lr")
        return
    if head == "probabilities" and not rest:
        return _check_index(idx, model.layers[-1].output_shape, "probabilities")
    if head == "input" and not rest:
        return _check_index(idx, model.input_shape[1:] if model.input_shape[0] == 1 else model.input_shape, "input")
    if head == "update" and rest in (["loss_before"], ["loss_after"]):
        if not setup.step:
            raise LessonError(f"{name} needs setup.step: true")
        return
    if head == "lab" and len(rest) == 2:
        if setup.lab is None:
            raise LessonError(f"{name} needs setup.lab")
        layers = PRESETS[setup.lab.preset][1]()["layers"]
        if rest[0] == "count":
            return
        if not rest[0].isdigit() or int(rest[0]) >= len(layers):
            raise LessonError(f"{name}: the preset {setup.lab.preset} has rows 0…{len(layers) - 1}")
        row = layers[int(rest[0])]
        if rest[1] not in LAB_FIELDS.get(row["type"], ()):
            raise LessonError(f"{name}: row {rest[0]} ({row['type']}) has no field {rest[1]!r}")
        return
    if len(rest) == 1 and head in ("out", "delta", "dW", "db", "W", "b", "shape", "model"):
        if head == "shape" and rest[0] == "input":
            return _check_index(idx, [len(model.input_shape)], name)
        L = model.layer(rest[0])
        if head in ("delta", "dW", "db") and revealed_count(setup, model) == 0:
            raise LessonError(f"{name} needs a backward pass: setup.revealed of 1 or more")
        if head in ("out", "delta"):
            return _check_index(idx, L.output_shape, name)
        if head == "shape":
            return _check_index(idx, [len(L.output_shape)], name)
        if head == "model":
            raise LessonError(f"{name}: say which setting, e.g. model.{L.name}.stride")
        shape = L.param_shape("W" if head in ("W", "dW") else "b")
        if shape is None:
            raise LessonError(f"{name}: {L.name} ({L.type}) has no weights")
        return _check_index(idx, shape, name)
    if head == "model" and len(rest) == 2:
        L = model.layer(rest[0])
        if rest[1] not in L.config:
            raise LessonError(f"{name}: {L.name} ({L.type}) has no setting {rest[1]!r}"
                              + (f" (it has {', '.join(L.config)})" if L.config else ""))
        if idx is not None:
            raise LessonError(f"{name} is one number: it takes no index")
        return
    raise LessonError(f"unknown name {name!r} (see docs/lessons.md for the names an answer may use)")


def check_expression(expr: str, setup: Setup, model: ModelRef) -> None:
    for name, idx in paths_of(expr):
        check_path(name, idx, setup, model)


_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def check_card(card: Card, model: ModelRef) -> list[tuple[str, str]]:
    """Every reference of one card against the served model: (field, message) for each problem."""
    problems: list[tuple[str, str]] = []
    s = card.setup

    def guard(field: str, check: Any) -> None:
        try:
            check()
        except LessonError as e:
            problems.append((field, str(e)))

    n = len(model.layers)
    if s.target is not None and s.target >= model.layers[-1].output_shape[0]:
        classes = model.layers[-1].output_shape[0]
        problems.append(("setup.target", f"{s.target} is not a class: the model has {classes}"))
    if isinstance(s.revealed, str) and s.revealed != "all":
        guard("setup.revealed", lambda: model.layer(str(s.revealed)))
    elif isinstance(s.revealed, int) and not 0 <= s.revealed <= n:
        problems.append(("setup.revealed", f"{s.revealed} is not between 0 and {n} (the layer count)"))
    if s.cursor is not None:
        guard("setup.cursor", lambda: model.layer(str(s.cursor)))
    if s.selection is not None:
        guard("setup.selection", lambda: _check_selection(s, model))
    if s.neuron is not None:
        guard("setup.neuron", lambda: _check_neuron(s, model))
    if s.lab is not None:
        guard("setup.lab", lambda: _check_lab(s))
    if card.reveal is not None:
        after = Setup.model_validate({**s.model_dump(exclude_unset=True),
                                      **card.reveal.model_dump(exclude_unset=True)})
        for field, check in (("cursor", lambda: model.layer(str(after.cursor))),
                             ("selection", lambda: _check_selection(after, model)),
                             ("neuron", lambda: _check_neuron(after, model)), ("lab", lambda: _check_lab(after))):
            if getattr(card.reveal, field) is not None:
                guard(f"reveal.{field}", check)
        if isinstance(card.reveal.revealed, str) and card.reveal.revealed != "all":
            guard("reveal.revealed", lambda: model.layer(str(after.revealed)))
    guard("question.answer", lambda: check_expression(card.question.answer, s, model))
    for field, text in (("text", card.text), ("question.why", card.question.why),
                        ("question.prompt", card.question.prompt)):
        for expr in _PLACEHOLDER.findall(text):
            guard(f"{field} {{{expr}}}", lambda e=expr: check_expression(e, s, model))
    return problems


def _check_selection(s: Setup, model: ModelRef) -> None:
    sel = s.selection
    assert sel is not None
    L = model.layer(sel.layer)
    if L.index < len(model.layers) - revealed_count(s, model):
        raise LessonError(f"{L.name} is not revealed by setup.revealed: a selection needs its backward maps")
    shape = {"delta": L.output_shape, "down": L.input_shape, "dW": L.param_shape("W"), "db": L.param_shape("b")}
    if shape[sel.part] is None:
        raise LessonError(f"{L.name} ({L.type}) has no {sel.part}")
    if sel.idx != "max":
        _check_index(sel.idx, shape[sel.part] or (), f"{L.name}.{sel.part}")


def _check_neuron(s: Setup, model: ModelRef) -> None:
    assert s.neuron is not None
    L = model.layer(s.neuron.layer)
    if L.type != "Conv2D":
        raise LessonError(f"the neuron inspector shows a convolution's cells; {L.name} is a {L.type}")
    _check_index(s.neuron.idx, L.output_shape, L.name)


def _check_lab(s: Setup) -> None:
    lab = s.lab
    assert lab is not None
    if lab.preset not in PRESETS:
        raise LessonError(f"no preset {lab.preset!r}; the presets are {', '.join(PRESETS)}")
    if lab.edit is not None:
        layers = PRESETS[lab.preset][1]()["layers"]
        if lab.edit.layer >= len(layers):
            raise LessonError(f"edit.layer {lab.edit.layer}: the preset {lab.preset} has rows 0…{len(layers) - 1}")
        row = layers[lab.edit.layer]
        if lab.edit.field not in LAB_FIELDS.get(row["type"], ()):
            raise LessonError(f"edit.field {lab.edit.field!r}: row {lab.edit.layer} is a {row['type']}, whose fields "
                              f"are {', '.join(LAB_FIELDS.get(row['type'], ())) or 'none'}")

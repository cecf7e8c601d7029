"""The schema of a lesson file (static/lessons/*.json): what a teacher may write, as pydantic models. The checks
against the served model are in app/lesson_checks.py, the loading in app/lessons.py; docs/lessons.md is the guide."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.training.presets import PRESETS

SCHEMA_VERSION = 1
# The fields the lab's editor offers per layer type (static/js/lab/state.js LAYER_TYPES), which lab.<row>.<field> and
# an edit may name.
LAB_FIELDS = {"Conv2D": ("out_channels", "kernel_size", "stride", "padding"), "MaxPool2D": ("size", "stride"),
              "AvgPool2D": ("size", "stride"), "Dropout": ("p",), "Dense": ("out_features",)}
# The fields of a layer's configuration an answer may read as model.<layer>.<field>.
CONFIG_FIELDS = ("kernel_size", "stride", "padding", "size", "in_channels", "out_channels", "in_features",
                 "out_features")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Digit(_Strict):
    sample: int = Field(ge=0, le=9, description="A sample digit: static/data/samples.json's labels are 0…9 in order, "
                        "so sample i is a drawing of the digit i.")


class Selection(_Strict):
    layer: str = Field(description="The layer's name, e.g. conv2.")
    part: Literal["delta", "dW", "db", "down"] = Field(default="delta", description="Which backward map: δ (or "
                                                        "∂E/∂out), ∂E/∂W, ∂E/∂b, or what the layer passes down.")
    idx: list[int] | Literal["max"] = Field(description="The cell, one index per axis; \"max\": the cell of the "
                                            "largest |value|.")


class Neuron(_Strict):
    layer: str = Field(description="A convolution's name, e.g. conv1.")
    idx: list[int] = Field(min_length=3, max_length=3, description="[filter, row, column] of its output.")


class LabEdit(_Strict):
    layer: int = Field(ge=0, description="The editor's row, from 0.")
    field: str = Field(description="The field to set, e.g. stride.")
    value: int | float = Field(description="The value, as the editor takes it (a whole number for sizes).")


class LabSetup(_Strict):
    preset: str = Field(description="A preset of the training lab: " + ", ".join(PRESETS) + ".")
    edit: LabEdit | None = Field(default=None, description="One field of one row changed after the preset loads, "
                                 "e.g. a stride that does not fit.")


class Setup(_Strict):
    digit: Digit | None = Field(default=None, description="The digit on the pad (absent: the one there).")
    target: int | None = Field(default=None, ge=0, description="The label backward aims at (absent: the prediction).")
    loss: Literal["cross_entropy", "mse"] | None = Field(default=None, description="The loss backward starts from.")
    revealed: int | str | None = Field(default=None, description="How far the backward pass has gone: a number of "
                                       "layers from the loss, a layer's name (revealed down to it), or \"all\".")
    cursor: str | None = Field(default=None, description="The layer highlighted (default: the last revealed).")
    selection: Selection | None = Field(default=None, description="The cell picked in a backward map: the "
                                        "explanation shows its arithmetic.")
    neuron: Neuron | None = Field(default=None, description="The convolution cell in the neuron inspector.")
    lr: float | None = Field(default=None, gt=0, le=10, description="The update's learning rate.")
    momentum: float | None = Field(default=None, ge=0, lt=1, description="The update's momentum.")
    reset: bool = Field(default=False, description="Start from the pretrained weights (as Reset weights does).")
    step: bool = Field(default=False, description="Apply one update step (lr, momentum) once the rest is set, from "
                       "the pretrained weights.")
    open: Literal["explain", "inspector", "update", "gradcheck", "lab", "layers"] | None = Field(
        default=None, description="The panel brought into sight (on a phone, opened).")
    lab: LabSetup | None = Field(default=None, description="The training lab opened on a preset.")


class Question(_Strict):
    prompt: str = Field(min_length=1, description="The question: a number to predict before the page shows it.")
    answer: str = Field(min_length=1, description="An expression over the page's numbers (docs/lessons.md).")
    why: str = Field(min_length=1, description="Shown with the exact value once answered; may hold placeholders.")


class Card(_Strict):
    title: str = Field(min_length=1, description="The card's heading.")
    text: str = Field(min_length=1, description="Short; {expression} placeholders are filled from the page.")
    setup: Setup = Field(default_factory=Setup, description="What the page shows when the card opens.")
    question: Question = Field(description="The number the learner predicts, checked to 3 significant figures.")
    reveal: Setup | None = Field(default=None, description="Set once the question is answered or shown: the step that "
                                 "shows the answer on the page (fields given here replace the setup's).")


class Lesson(_Strict):
    schema_: int = Field(alias="schema", description="The schema version: 1.")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,40}$", description="Lowercase letters, digits and dashes.")
    title: str = Field(min_length=1, description="The lesson's name in the list.")
    summary: str = Field(min_length=1, description="One or two sentences for the list.")
    cards: list[Card] = Field(min_length=1, max_length=40, description="The cards, in order.")


class LessonSummary(BaseModel):
    id: str = Field(description="The lesson's id, for GET /api/lessons/{id}.")
    title: str = Field(description="The lesson's name.")
    summary: str = Field(description="One or two sentences on what it covers.")
    cards: int = Field(description="How many cards the lesson has.")


class LessonError(ValueError):
    """A lesson file that cannot be served; the message names the file, the card and the field."""

"""Guided lessons: the loader that validates every lesson file (static/lessons/*.json) at start-up, its schema
(app/lesson_schema.py) and its checks against the served model (app/lesson_checks.py) behind one import.

A lesson is data a teacher writes: cards, each with a setup (a partial view of the page: digit, target, how far the
backward pass has gone, the cell selected, a panel opened, the training lab on a preset) and a question whose answer
is an expression over the page's own numbers (`delta.conv2[0,3,4]`, `W.dense3[7,0] - lr * dW.dense3[7,0]`). The page
evaluates it (static/js/lessons/expr.js); here the same grammar is parsed only to check that every name, layer and
index it mentions exists in the served model, so that a teacher's typo is refused with the card and field named.

A broken file never takes the server down: it is refused with a logged message and the others are served.
docs/lessons.md is the teacher's guide to all of this.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from app.lesson_checks import ModelRef, check_card, paths_of
from app.lesson_schema import SCHEMA_VERSION, Lesson, LessonError, LessonSummary

__all__ = ["Lesson", "LessonError", "LessonLibrary", "LessonSummary", "ModelRef", "load_lessons", "parse_lesson",
           "paths_of"]
log = logging.getLogger("cnn_visualizer.lessons")

# ------------------------------------------------------------------------------------------- loading


def _where(loc: Sequence[Any], data: Any) -> str:
    """A pydantic location as a person reads it: card 3 ("Max pooling") setup.selection.idx."""
    parts = [str(p) for p in loc]
    if len(parts) >= 2 and parts[0] == "cards" and parts[1].isdigit():
        k = int(parts[1])
        title = ""
        try:
            title = f' ("{data["cards"][k]["title"]}")'
        except (KeyError, IndexError, TypeError):
            pass
        return f"card {k + 1}{title} " + ".".join(parts[2:]) if parts[2:] else f"card {k + 1}{title}"
    return ".".join(parts) or "the file"


def parse_lesson(data: Any, model: ModelRef, source: str = "the lesson") -> Lesson:
    """A lesson from its JSON data, checked against the schema and the served model, or LessonError naming every
    problem found (file, card, field)."""
    if isinstance(data, dict) and data.get("schema") != SCHEMA_VERSION:
        raise LessonError(f"{source}: schema {data.get('schema')!r} is not supported (this server reads schema "
                          f"{SCHEMA_VERSION})")
    try:
        lesson = Lesson.model_validate(data)
    except ValidationError as e:
        lines = [f"{_where(err['loc'], data)}: {err['msg']}" for err in e.errors()[:8]]
        raise LessonError(f"{source}: " + "; ".join(lines)) from None
    problems = [f"card {k + 1} (\"{card.title}\") {field}: {msg}"
                for k, card in enumerate(lesson.cards) for field, msg in check_card(card, model)]
    if problems:
        raise LessonError(f"{source}: " + "; ".join(problems[:8]))
    return lesson


@dataclass
class LessonLibrary:
    """The lessons served, in file-name order, and the files refused with why."""

    lessons: dict[str, Lesson]
    refused: dict[str, str]

    def summaries(self) -> list[LessonSummary]:
        return [LessonSummary(id=x.id, title=x.title, summary=x.summary, cards=len(x.cards))
                for x in self.lessons.values()]


def load_lessons(folder: Path, model: ModelRef) -> LessonLibrary:
    """Every *.json in `folder`, validated; a broken one is refused with a logged warning, the rest are served."""
    lessons: dict[str, Lesson] = {}
    refused: dict[str, str] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
                raise LessonError(f"{path.name}: not readable as JSON ({e})") from None
            lesson = parse_lesson(data, model, path.name)
            if lesson.id in lessons:
                raise LessonError(f"{path.name}: the id {lesson.id!r} is already used by another lesson")
            lessons[lesson.id] = lesson
        except LessonError as e:
            refused[path.name] = str(e)
            log.warning("lesson refused: %s", e)
    return LessonLibrary(lessons, refused)

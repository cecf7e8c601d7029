"""Guided lessons: the list and each lesson, as validated against the lesson schema and the served model.

    GET /api/lessons        every lesson served: id, title, summary, number of cards
    GET /api/lessons/{id}   one lesson whole (its cards), or 404 with a plain message

The files in static/lessons are read once, at start-up (this router's lifespan, after the app's own has started the
services whose model the lessons are checked against); a file refused is logged and left out (app.lessons).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request

from app.errors import UnknownName
from app.lessons import Lesson, LessonLibrary, LessonSummary, ModelRef, load_lessons
from app.paths import STATIC_DIR
from app.schemas import ErrorResponse

LESSONS_DIR = STATIC_DIR / "lessons"


def library_for(app: Any) -> LessonLibrary:
    """The lessons of this app, loaded against its served model on first need (start-up, normally)."""
    library: LessonLibrary | None = getattr(app.state, "lessons", None)
    if library is None:
        net = app.state.services.network
        library = load_lessons(LESSONS_DIR, ModelRef.of(net.spec, net.summary, net.summary.input_shape))
        app.state.lessons = library
    return library


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    library_for(app)
    yield


router = APIRouter(prefix="/api", tags=["lessons"], lifespan=lifespan)


async def library(request: Request) -> LessonLibrary:
    return library_for(request.app)


LibraryDep = Annotated[LessonLibrary, Depends(library)]


@router.get("/lessons", response_model=list[LessonSummary], summary="The guided lessons: id, title, summary and "
            "number of cards of each")
async def list_lessons(lib: LibraryDep) -> list[LessonSummary]:
    return lib.summaries()


# Unset fields stay absent: a setup touches only what it names ("target": null is said: it means the prediction).
@router.get("/lessons/{lesson_id}", response_model=Lesson, response_model_exclude_unset=True,
            responses={404: {"model": ErrorResponse, "description": "No lesson of that id."},
                       422: {"model": ErrorResponse, "description": "The id is not a valid path segment."}},
            summary="One lesson whole: its cards, each with its setup and question")
async def get_lesson(lesson_id: str, lib: LibraryDep) -> Lesson:
    lesson = lib.lessons.get(lesson_id)
    if lesson is None:
        known = ", ".join(lib.lessons) or "none"
        raise UnknownName(f"no lesson {lesson_id!r}; the lessons are: {known}")
    return lesson

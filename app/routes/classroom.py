"""Class mode: a teacher's class and its students, over HTTP and WebSockets (issue 15; in progress)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

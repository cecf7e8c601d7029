"""Guided lessons: the list and each lesson, validated against the lesson schema (issue 15; in progress)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()

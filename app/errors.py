"""Errors the server answers on purpose: each has an HTTP status, a stable code and a message a person can act on."""

from __future__ import annotations


class AppError(Exception):
    """Base of every deliberate error; main.py turns it into {"detail": message, "code": code} with its status."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code


class NoInputYet(AppError):
    status_code = 409
    code = "no_forward_yet"


class NoBackwardYet(AppError):
    status_code = 409
    code = "no_backward_yet"


class StepRefused(AppError):
    """An update that would make weights NaN or infinite; it was rolled back."""

    status_code = 422
    code = "step_diverged"


class UnknownName(AppError):
    status_code = 404
    code = "not_found"

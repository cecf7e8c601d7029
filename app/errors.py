"""Errors the server answers on purpose: each has an HTTP status, a stable code and a message a person can act on.

One hierarchy: main.py turns any AppError into {"detail": message, "code": code} with its status, for REST, and the
WebSocket into {"type": "error", "code", "message"}. Image errors (app.services.images) are AppErrors too.
"""

from __future__ import annotations


class AppError(Exception):
    """Base of every deliberate error."""

    status_code = 400
    code = "bad_request"
    headers: dict[str, str] = {}  # sent with the answer (e.g. Retry-After); never mutated, errors set their own

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(AppError):
    """A value the request carries is out of range or of the wrong kind."""

    status_code, code = 422, "invalid_request"


class UnsupportedMediaType(AppError):
    status_code, code = 415, "unsupported_media_type"


class MissingFile(AppError):
    status_code, code = 400, "missing_file"


class NoInputYet(AppError):
    status_code, code = 409, "no_forward_yet"


class SessionExpired(AppError):
    """The browser's session is gone (idle too long, evicted, or the server restarted); a new one starts empty."""

    status_code, code = 409, "session_expired"


class NoBackwardYet(AppError):
    status_code, code = 409, "no_backward_yet"


class StepRefused(AppError):
    """An update that would make weights NaN or infinite; it was rolled back."""

    status_code, code = 422, "step_diverged"


class UnknownName(AppError):
    status_code, code = 404, "not_found"


class Busy(AppError):
    """A tab sent another request while one of its own is running and one more already waits for it."""

    status_code, code = 429, "busy"

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__("a request of this tab is still running; try again in a moment")
        self.headers = {"Retry-After": str(retry_after)}


class Overloaded(AppError):
    """The engine's gate is full: as many expensive jobs are running and waiting as the server allows."""

    status_code, code = 503, "overloaded"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)}


class TooLarge(AppError):
    """More bytes than a limit allows: a request body, an upload, a data URL's payload."""

    status_code, code = 413, "too_large"

    def __init__(self, what: str, size: int, limit: int, *, at_least: bool = False, advice: str = "") -> None:
        amount = f"at least {_bytes(size)}" if at_least else _bytes(size)
        super().__init__(f"{what} is {amount}; the limit is {_bytes(limit)}.{' ' + advice if advice else ''}")
        self.size, self.limit = size, limit


def _bytes(n: int) -> str:
    """5 MB (5,242,880 bytes): the megabytes a person thinks in, and the exact count to compare with."""
    return f"{n / 2**20:.3g} MB ({n:,} bytes)"


# The training lab (app.training)


class TrainingDataMissing(AppError):
    """MNIST is not in the data folder: training cannot start, everything else works. 409, not 503: the server is
    not failing, it lacks files that a person must fetch (`cnn-data download`) before trying again."""

    status_code, code = 409, "training_data_missing"


class TrainLimit(AppError):
    """A training request over one of the server's limits (CNN_TRAIN_MAX_*); the message names the limit."""

    status_code, code = 422, "train_limit"


class InvalidSpec(AppError):
    """A spec the engine cannot build, or that cannot read a digit and name one of ten classes."""

    status_code, code = 422, "invalid_spec"


class JobConflict(AppError):
    """The session has a training job queued or running already, or the job is not in a state for this action."""

    status_code, code = 409, "job_conflict"


class JobNotFound(AppError):
    status_code, code = 404, "job_not_found"


class NotYourJob(AppError):
    """Another session's job: only the session that started a job controls it."""

    status_code, code = 403, "not_your_job"

"""The class mode's errors, each with its status and a message a teacher or a student can act on (app.errors)."""

from __future__ import annotations

from app.errors import AppError, Overloaded


class ClassNotFound(AppError):
    status_code, code = 404, "class_not_found"

    def __init__(self) -> None:
        super().__init__("there is no class with this code: it may have ended or expired, or a character is wrong; "
                         "check the code with your teacher")


class ClassFull(AppError):
    status_code, code = 409, "class_full"

    def __init__(self, limit: int) -> None:
        super().__init__(f"this class is full: it already has {limit} students, the most a class may have")


class WrongPin(AppError):
    status_code, code = 403, "wrong_pin"

    def __init__(self) -> None:
        super().__init__("that is not this class's teacher PIN")


class NoPin(AppError):
    status_code, code = 409, "no_pin"

    def __init__(self) -> None:
        super().__init__("this class was started without a teacher PIN, so its teacher screen cannot be opened on "
                         "another device; start a new class with a PIN for that")


class TooManyTries(AppError):
    status_code, code = 429, "too_many_tries"

    def __init__(self, what: str, retry_after: int) -> None:
        super().__init__(f"{what}; try again in {retry_after} seconds")
        self.headers = {"Retry-After": str(retry_after)}


class TooManySockets(AppError):
    """More sockets of one class on this process than it may have (a student's or teacher's screens)."""

    status_code, code = 429, "too_many_sockets"


def classes_full(limit: int) -> Overloaded:
    return Overloaded(f"the server already holds {limit} classes, the most it may; try again later, when one has "
                      "ended", retry_after=300)


def class_store_unreachable(what: str) -> Overloaded:
    return Overloaded(f"the server cannot reach its class store right now ({what}); nothing was lost, try again in a "
                      "moment", retry_after=1)


def class_store_busy(what: str) -> Overloaded:
    return Overloaded(f"the server is busy with many classes at once ({what}); nothing was lost, try again in a "
                      "moment", retry_after=1)

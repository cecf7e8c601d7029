"""What a class's sockets may send, checked strictly: a message that breaks a rule raises WireError, whose code and
words go back to the sender as {"type": "error", "code", "detail"}; nothing a client sends can crash the socket.

A drawing is the student's 28×28 input as MNIST has it (white ink on black, uint8, row-major): 784 bytes in base64,
the network's prediction 0-9 and its ten probabilities, each in [0, 1] and summing to 1 (within PROBABILITY_SLACK, for
float32 rounding). An empty canvas is a drawing whose image, prediction and probabilities are all null.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import unicodedata
from typing import Any

from app.errors import InvalidRequest

MAX_MESSAGE_BYTES = 8192
IMAGE_BYTES = 28 * 28
CLASSES = 10
PROBABILITY_SLACK = 1e-2
MAX_NAME = 30
MAX_TITLE = 80
LESSON_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_CARD = 999


class WireError(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


def _plain_text(value: str, what: str, longest: int) -> str:
    """`value` trimmed, 1..longest characters, none of them a control or formatting character (a bidi override
    would scramble the teacher's wall)."""
    text = value.strip()
    if not 1 <= len(text) <= longest:
        raise InvalidRequest(f"{what} must be 1 to {longest} characters long, got {len(text)}")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in text):
        raise InvalidRequest(f"{what} may hold letters, digits, spaces and punctuation, not control characters")
    return text


def display_name(value: str) -> str:
    return _plain_text(value, "the name", MAX_NAME)


def class_title(value: str) -> str:
    return _plain_text(value, "the title", MAX_TITLE)


def parse(raw: str | bytes | None) -> dict[str, Any]:
    """One socket message as a JSON object with a string `type`."""
    if raw is None or isinstance(raw, bytes):
        raise WireError("invalid_json", 'messages are JSON text frames, e.g. {"type": "ping"}')
    if len(raw) > MAX_MESSAGE_BYTES or len(raw.encode()) > MAX_MESSAGE_BYTES:
        raise WireError("too_large", f"a message may hold {MAX_MESSAGE_BYTES} bytes at most; a drawing takes "
                        "about 1,300")
    try:
        message = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        raise WireError("invalid_json", 'a message must be a JSON object, e.g. {"type": "ping"}') from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise WireError("invalid_message", 'a message must be a JSON object with a "type", e.g. {"type": "ping"}')
    return message


def _int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def drawing(message: dict[str, Any]) -> dict[str, Any]:
    """{"image", "prediction", "probabilities"} of a student's drawing message, checked."""
    image, prediction, probabilities = (message.get(k) for k in ("image", "prediction", "probabilities"))
    if image is None:
        if prediction is not None or probabilities is not None:
            raise WireError("invalid_drawing", "an empty drawing (image null) has no prediction or probabilities")
        return {"image": None, "prediction": None, "probabilities": None}
    if not isinstance(image, str) or len(image) > 2 * IMAGE_BYTES:
        raise WireError("invalid_drawing", f"image must be the {IMAGE_BYTES} bytes of the 28×28 input in base64")
    try:
        pixels = base64.b64decode(image, validate=True)
    except (binascii.Error, ValueError):
        raise WireError("invalid_drawing", "image is not valid base64") from None
    if len(pixels) != IMAGE_BYTES:
        raise WireError("invalid_drawing", f"image must be {IMAGE_BYTES} bytes (28×28), got {len(pixels)}")
    if not _int(prediction, 0, CLASSES - 1):
        raise WireError("invalid_drawing", "prediction must be a whole number from 0 to 9")
    if (not isinstance(probabilities, list) or len(probabilities) != CLASSES
            or not all(isinstance(p, int | float) and not isinstance(p, bool) and math.isfinite(p) and 0 <= p <= 1
                       for p in probabilities)):
        raise WireError("invalid_drawing", "probabilities must be 10 numbers, each from 0 to 1")
    if abs(sum(probabilities) - 1) > PROBABILITY_SLACK:
        raise WireError("invalid_drawing", f"probabilities must sum to 1, got {sum(probabilities):.4g}")
    return {"image": base64.b64encode(pixels).decode("ascii"), "prediction": prediction,
            "probabilities": [float(p) for p in probabilities]}


def lesson(message: dict[str, Any]) -> dict[str, Any] | None:
    """The lesson card a teacher pushes, {"id", "card"}, or None to clear it ({"lesson": null} or {"id": null})."""
    if "lesson" in message and message["lesson"] is None or message.get("id", "") is None:
        return None
    lesson_id, card = message.get("id"), message.get("card", 0)
    if not isinstance(lesson_id, str) or not LESSON_ID.fullmatch(lesson_id):
        raise WireError("invalid_lesson", "id must name a lesson: 1 to 64 letters, digits, '-' or '_'")
    if not _int(card, 0, MAX_CARD):
        raise WireError("invalid_lesson", f"card must be a whole number from 0 to {MAX_CARD}")
    return {"id": lesson_id, "card": card}


def student_id(message: dict[str, Any]) -> str:
    value = message.get("student")
    if not isinstance(value, str) or not 1 <= len(value) <= 32:
        raise WireError("invalid_message", 'pin needs "student", the id of a student of this class')
    return value

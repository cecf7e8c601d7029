"""A class's secrets: its code, the tokens of its teacher and students, and its teacher PIN.

A code is what a teacher writes on the board and a student types: CODE_LENGTH characters drawn by `secrets` from an
alphabet without the look-alikes 0/O, 1/I/L (31^6 ≈ 887 million codes, so guessing one of the classes held is
hopeless within the join limits).

Tokens are signed, not stored: each class has a random secret, and a token is `<who>.<HMAC(secret, who)>`, `who`
being `t<nonce>` for a teacher (each device its own) or a student's id. Checking one needs only the class's secret,
which every read of the class brings anyway; ending the class drops the secret and every token with it.

The PIN is kept as PBKDF2-SHA256 with a random salt, never as digits; PIN_TRIES wrong tries within PIN_WINDOW_SECONDS
lock the PIN out for the rest of the window (app.classroom.service), so its 10^4..10^8 values cannot be walked.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L
CODE_LENGTH = 6
PIN_PATTERN = re.compile(r"[0-9]{4,8}")
PIN_ITERATIONS = 100_000  # ~50 ms a check: nothing to a teacher, a wall to anyone walking the PINs offline
PIN_TRIES = 5
PIN_WINDOW_SECONDS = 300
STUDENT_PREFIX = "s"
TEACHER_PREFIX = "t"


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normal_code(code: str) -> str | None:
    """The code as stored (upper case), or None if it cannot be one: the routes answer 404 without asking the store."""
    upper = code.strip().upper()
    if len(upper) != CODE_LENGTH or any(c not in ALPHABET for c in upper):
        return None
    return upper


def new_secret() -> str:
    return secrets.token_urlsafe(24)


def new_student_id() -> str:
    return STUDENT_PREFIX + secrets.token_hex(6)


def _mac(secret: str, who: str) -> str:
    return hmac.new(secret.encode(), who.encode(), hashlib.sha256).hexdigest()[:32]


def teacher_token(secret: str) -> str:
    who = TEACHER_PREFIX + secrets.token_hex(6)
    return f"{who}.{_mac(secret, who)}"


def student_token(secret: str, student_id: str) -> str:
    return f"{student_id}.{_mac(secret, student_id)}"


def token_holder(secret: str, token: str | None) -> tuple[str, str] | None:
    """("teacher", nonce) or ("student", id) for a token this class's secret signed; None for anything else."""
    if not token or len(token) > 100 or token.count(".") != 1:
        return None
    who, mac = token.split(".")
    if not hmac.compare_digest(mac, _mac(secret, who)):
        return None
    if who.startswith(TEACHER_PREFIX):
        return "teacher", who
    if who.startswith(STUDENT_PREFIX):
        return "student", who
    return None


def hash_pin(pin: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, PIN_ITERATIONS)
    return f"{salt.hex()}${digest.hex()}"


def pin_matches(stored: str, pin: str) -> bool:
    salt, _, digest = stored.partition("$")
    given = hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(salt), PIN_ITERATIONS)
    return hmac.compare_digest(given.hex(), digest)

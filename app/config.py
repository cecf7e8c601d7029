"""Settings, all in one place, read from environment variables (documented in the README).

    CNN_MODEL_PATH            model file to serve (.npz from cnn-train); default: the pretrained LeNet-5
    CNN_MAX_UPLOAD_BYTES      largest accepted image, in bytes (default 5 MiB)
    CNN_MAX_IMAGE_PIXELS      largest accepted width × height (default 4096 × 4096), against decompression bombs
    CNN_MAX_SESSIONS          sessions kept at once; the least recently used goes first (default 100)
    CNN_SESSION_IDLE_SECONDS  a session unused this long is dropped (default 1800)
    CNN_MAX_LEARNING_RATE     the largest learning rate a step accepts (default 10)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cnn.pretrained import PRETRAINED_PATH


def _int_env(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    model_path: Path = PRETRAINED_PATH
    max_upload_bytes: int = 5 * 1024 * 1024
    max_image_pixels: int = 4096 * 4096
    max_sessions: int = 100
    session_idle_seconds: int = 1800
    max_learning_rate: float = 10.0
    cookie_name: str = "cnn_session"

    @classmethod
    def from_env(cls) -> Settings:
        d = cls()
        raw_lr = os.environ.get("CNN_MAX_LEARNING_RATE", "")
        try:
            max_lr = float(raw_lr) if raw_lr else d.max_learning_rate
        except ValueError:
            raise ValueError(f"CNN_MAX_LEARNING_RATE must be a number, got {raw_lr!r}") from None
        return cls(
            model_path=Path(os.environ.get("CNN_MODEL_PATH") or d.model_path),
            max_upload_bytes=_int_env("CNN_MAX_UPLOAD_BYTES", d.max_upload_bytes),
            max_image_pixels=_int_env("CNN_MAX_IMAGE_PIXELS", d.max_image_pixels),
            max_sessions=_int_env("CNN_MAX_SESSIONS", d.max_sessions),
            session_idle_seconds=_int_env("CNN_SESSION_IDLE_SECONDS", d.session_idle_seconds),
            max_learning_rate=max_lr,
        )

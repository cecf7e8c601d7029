"""Sessions: each browser tab's own copy of the weights, as plain serialisable data behind a small store interface.

A session holds numbers only (weights, optimizer velocity, the last input and target), never live objects, so a store
on a shared server (Redis: `to_bytes` / `from_bytes`) can replace the in-memory one without touching the routes.
"""

from __future__ import annotations

import io
import json
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np


@dataclass
class SessionState:
    """Everything one learner's tab has done to its copy of the network."""

    id: str
    params: dict[str, np.ndarray]  # "conv1.W" -> array (float64), starting as the pretrained weights
    velocity: dict[str, np.ndarray] = field(default_factory=dict)  # SGD momentum buffers
    input: np.ndarray | None = None  # the preprocessed 28×28 image of the last forward
    preprocess_steps: dict[str, np.ndarray] = field(default_factory=dict)
    target: int | None = None  # the label of the last backward
    loss: Literal["cross_entropy", "mse"] = "cross_entropy"
    steps: int = 0  # SGD steps applied since the last reset
    loss_history: list[float] = field(default_factory=list)  # the loss on this input after each step
    # A new random number at every change of the weights or the input: a warm pass (app.services.warm) is valid for
    # one version only. Random, not a count, so that a session made again under the same id, or changed by another
    # process, never meets a stale pass that happens to carry its number.
    version: int = 0

    def changed(self) -> None:
        self.version = secrets.randbits(62)
    last_used: float = field(default_factory=time.monotonic)

    def to_bytes(self) -> bytes:
        """An .npz holding the arrays and a JSON header with the rest; no pickle."""
        header = {"id": self.id, "target": self.target, "loss": self.loss, "steps": self.steps,
                  "loss_history": self.loss_history, "version": self.version}
        arrays = {f"param/{k}": v for k, v in self.params.items()}
        arrays |= {f"velocity/{k}": v for k, v in self.velocity.items()}
        arrays |= {f"step/{k}": v for k, v in self.preprocess_steps.items()}
        if self.input is not None:
            arrays["input"] = self.input
        buf = io.BytesIO()
        np.savez(buf, header=np.array(json.dumps(header)), **arrays)  # type: ignore[arg-type]
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> SessionState:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        header = json.loads(str(arrays.pop("header")))

        def group(prefix: str) -> dict[str, np.ndarray]:
            return {k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)}

        return cls(id=header["id"], params=group("param/"), velocity=group("velocity/"), input=arrays.get("input"),
                   preprocess_steps=group("step/"), target=header["target"], loss=header["loss"],
                   steps=header["steps"], loss_history=list(header["loss_history"]), version=header["version"])


class SessionStore(Protocol):
    """What the routes need from a store. An implementation keeps memory bounded on its own."""

    def get(self, session_id: str) -> SessionState | None: ...

    def put(self, state: SessionState) -> None: ...

    def delete(self, session_id: str) -> None: ...

    def __len__(self) -> int: ...


class InMemorySessionStore:
    """Sessions in a dict, at most `max_sessions` (the least recently used is dropped first), each dropped after
    `idle_seconds` without use. Thread-safe: FastAPI runs plain `def` routes on a thread pool."""

    def __init__(self, max_sessions: int, idle_seconds: float) -> None:
        self.max_sessions = max_sessions
        self.idle_seconds = idle_seconds
        self._now = time.monotonic
        self._sessions: OrderedDict[str, SessionState] = OrderedDict()
        self._lock = threading.Lock()

    def _expire(self) -> None:
        cutoff = self._now() - self.idle_seconds
        while self._sessions:
            oldest = next(iter(self._sessions.values()))
            if oldest.last_used >= cutoff and len(self._sessions) <= self.max_sessions:
                break
            self._sessions.popitem(last=False)

    def get(self, session_id: str) -> SessionState | None:
        with self._lock:
            self._expire()
            state = self._sessions.get(session_id)
            if state is not None:
                state.last_used = self._now()
                self._sessions.move_to_end(session_id)
            return state

    def put(self, state: SessionState) -> None:
        with self._lock:
            state.last_used = self._now()
            self._sessions[state.id] = state
            self._sessions.move_to_end(state.id)
            self._expire()

    def delete(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._sessions)


def new_session_id() -> str:
    return secrets.token_urlsafe(18)


def is_valid_session_id(value: str | None) -> bool:
    """Cookie values come from the client: accept only what new_session_id makes (24 URL-safe characters, plus an
    optional ':tab' suffix of the same alphabet)."""
    if not value or len(value) > 80:
        return False
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_:")
    return set(value) <= allowed

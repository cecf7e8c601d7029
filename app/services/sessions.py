"""Sessions: each browser tab's own copy of the weights, as plain serialisable data behind a small store interface.

A session holds numbers only (weights, optimizer velocity, the last input and target), never live objects, so a store
on a shared server (Redis: `to_bytes` / `from_bytes`) can replace the in-memory one without touching the routes.

Copy on write: a new or reset session's `params` are the served weights themselves, read-only and shared by every
such session; the first step gives the session a copy of its own (NetworkService.step). So a learner who has not
stepped costs a few kilobytes, and the store's budget counts only the arrays a session owns.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import Counter, OrderedDict
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

SESSION_FORMAT = "cnn-session-1"  # to_bytes's layout: a session stored by another version is read as lost
STORED_DTYPES = (np.dtype("<f8"), np.dtype("<f4"))
SESSION_OVERHEAD = 2048  # bytes of a session besides its arrays: the object, its dicts, the store's entries


@dataclass
class SessionState:
    """Everything one learner's tab has done to its copy of the network."""

    id: str
    params: dict[str, np.ndarray]  # "conv1.W" -> array (float64), starting as the pretrained weights
    # The architecture `params` belong to when it is not the served one: a network trained in the lab
    # (POST /api/train/{id}/use), whose weights the session then owns. None: the served network.
    spec: dict[str, Any] | None = None
    # What an uploaded model's file says about it (labels, mean/std, what the import folded or dropped), as plain
    # JSON data (app.services.models): the session's preprocessing and labels follow it. None: nothing uploaded.
    model: dict[str, Any] | None = None
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
    refused_steps: int = 0  # steps refused in a row (diverging): past a few, the message says to reset
    # A new random number at every change that may touch the weights or the velocity (every `changed()` but an
    # input's), and the one of the weights the store holds (never serialised): the Redis store rewrites the weights,
    # 0.5 MB once stepped, only when the two differ.
    weights_version: int = 0
    stored_weights: int | None = None
    # Made again because the one the browser had is gone (expired, evicted, a restarted server): until it gets an
    # input, a pass that needs one answers session_expired rather than no_forward_yet. Never serialised.
    lost: bool = False
    last_used: float = field(default_factory=time.monotonic)

    def changed(self, weights: bool = True) -> None:
        """A new version; `weights=False` when only the input changed, so a store may keep the stored weights."""
        self.version = secrets.randbits(62)
        if weights:
            self.weights_version = secrets.randbits(62)

    @property
    def owns_params(self) -> bool:
        """False while the weights are the served ones, shared (read-only) with every session that has not stepped."""
        return all(v.flags.writeable for v in self.params.values())

    def nbytes(self) -> int:
        """The memory this session holds of its own: its weights once it has stepped, velocity, input, images."""
        arrays = [*self.velocity.values(), *self.preprocess_steps.values()]
        arrays += list(self.params.values()) if self.owns_params else []
        arrays += [self.input] if self.input is not None else []
        return sum(a.nbytes for a in arrays) + 8 * len(self.loss_history) + SESSION_OVERHEAD

    def _weight_arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"param/{k}": v for k, v in self.params.items()} if self.owns_params else {}
        return arrays | {f"velocity/{k}": v for k, v in self.velocity.items()}

    def to_bytes(self, weights: bool = True) -> bytes:
        """The session as bytes, without pickle (`encode`'s layout). Compact: weights the session does not own (the
        served ones, shared until its first step) are left out, so such a session is a few KB. `weights=False`
        leaves the weights and velocity out altogether, for a store that keeps `weights_bytes` apart and rewrites
        them only when they change (a forward or a backward changes none)."""
        arrays = self._weight_arrays() if weights else {}
        arrays |= {f"step/{k}": v for k, v in self.preprocess_steps.items()}
        if self.input is not None:
            arrays["input"] = self.input
        return encode({"id": self.id, "target": self.target, "loss": self.loss, "steps": self.steps,
                       "loss_history": self.loss_history, "version": self.version, "refused_steps": self.refused_steps,
                       "served_params": not self.owns_params, "spec": self.spec, "model": self.model,
                       "weights": "here" if weights else "apart", "weights_version": self.weights_version}, arrays)

    def weights_bytes(self) -> bytes:
        """The weights (if the session owns them) and the velocity, for `to_bytes(weights=False)`'s other half."""
        return encode({"weights_version": self.weights_version}, self._weight_arrays())

    @classmethod
    def from_bytes(cls, data: bytes, served: dict[str, np.ndarray] | None = None,
                   weights: bytes | None = None) -> SessionState:
        """The session `to_bytes` wrote; `weights`, what `weights_bytes` wrote if they were stored apart. `served`: the
        served weights (read-only), given back to a session that had not stepped, whose bytes hold none. ValueError if
        a part is missing, or the bytes are not a whole session of this format."""
        header, arrays = decode(data)
        try:
            if header["weights"] == "apart":
                if weights is None:
                    raise ValueError(f"session {header['id']!r} keeps its weights apart: from_bytes needs them")
                weights_header, weight_arrays = decode(weights)
                if weights_header["weights_version"] != header["weights_version"]:
                    raise ValueError(f"session {header['id']!r}: its weights are of another version")
                arrays |= weight_arrays

            def group(prefix: str) -> dict[str, np.ndarray]:
                return {k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)}

            params = group("param/")
            if header["served_params"]:
                if served is None:
                    raise ValueError(f"session {header['id']!r} runs on the served weights: from_bytes needs them")
                params = dict(served)  # shared, read-only, as before it was stored (copy on write)
            return cls(id=header["id"], params=params, velocity=group("velocity/"), input=arrays.get("input"),
                       preprocess_steps=group("step/"), target=header["target"], loss=header["loss"],
                       steps=header["steps"], loss_history=list(header["loss_history"]), version=header["version"],
                       refused_steps=header["refused_steps"], spec=header["spec"], model=header["model"],
                       weights_version=header["weights_version"])
        except (KeyError, TypeError) as e:
            raise ValueError(f"a stored session whose header is incomplete: {e!r}") from None


def encode(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """A 4-byte length, a JSON header (`header`, the format, and each array's name, dtype and shape), then the arrays'
    raw bytes one after another. Raw rather than .npz: reading a stepped session back takes a tenth of the time (no
    zip to walk); JSON and raw numbers, so nothing is ever unpickled."""
    head = json.dumps({**header, "format": SESSION_FORMAT,
                       "arrays": [[name, a.dtype.str, list(a.shape)] for name, a in arrays.items()]}).encode()
    return b"".join([len(head).to_bytes(4, "little"), head,
                     *(np.ascontiguousarray(a).tobytes() for a in arrays.values())])


def decode(data: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """What `encode` wrote, the arrays copied (writable, as a session's own are: a step updates its weights in place).
    ValueError if it is not whole, not of this format, or holds anything but float arrays."""
    size = int.from_bytes(data[:4], "little")
    header = json.loads(data[4 : 4 + size])
    if not isinstance(header, dict) or header.get("format") != SESSION_FORMAT:
        raise ValueError("not a stored session of this version")
    arrays, offset = {}, 4 + size
    try:
        for name, dtype, shape in header["arrays"]:
            kind = np.dtype(dtype)
            if kind not in STORED_DTYPES:
                raise ValueError(f"a stored session holds an array of {kind}")
            count = int(np.prod(shape))
            arrays[name] = np.frombuffer(data, kind, count, offset).reshape(shape).copy()
            offset += count * kind.itemsize
    except (KeyError, TypeError) as e:
        raise ValueError(f"a stored session whose header is incomplete: {e!r}") from None
    if offset != len(data):
        raise ValueError(f"a stored session of {len(data)} bytes whose arrays take {offset}")
    return header, arrays


class SessionStore(Protocol):
    """What the routes need from a store. An implementation keeps memory bounded on its own.

    `remote`: its calls wait on the network, so they are made on a worker thread rather than on the event loop.
    `lock`: held around each request of a session, so that requests served by other processes stay in order (the
    in-memory store, in one process, needs none beyond app.services.container's own locks)."""

    remote: bool

    def lock(self, session_id: str) -> AbstractAsyncContextManager[None]: ...

    def get(self, session_id: str) -> SessionState | None: ...

    def reserve(self) -> None: ...

    def knows_browser(self, session_id: str) -> bool: ...

    def put(self, state: SessionState) -> None: ...

    def delete(self, session_id: str) -> None: ...

    def __len__(self) -> int: ...


class SessionsFull(Exception):
    """No room for a new session: the budget is taken by sessions in use, none idle long enough to go."""


class InMemorySessionStore:
    """Sessions in a dict within a memory budget of `max_bytes` (what each session owns: SessionState.nbytes), each
    dropped after `idle_seconds` without use.

    Over the budget, sessions idle for at least `evictable_after` seconds go, least recently used first; one in use
    more recently is never evicted, so a class at work loses nothing. When nothing can go, a new session is refused
    (`reserve` raises SessionsFull) until room is made. Thread-safe.
    """

    remote = False

    def __init__(self, max_bytes: int, idle_seconds: float, evictable_after: float = 120.0) -> None:
        self.max_bytes = max_bytes
        self.idle_seconds = idle_seconds
        self.evictable_after = evictable_after
        self._now = time.monotonic
        self._sessions: OrderedDict[str, SessionState] = OrderedDict()  # least recently used first
        self._sizes: dict[str, int] = {}
        self._total = 0
        self._browsers: Counter[str] = Counter()  # sessions held per browser (the id before a ":tab")
        self._lock = threading.Lock()

    def _drop(self, session_id: str) -> None:
        if self._sessions.pop(session_id, None) is not None:
            self._forget_browser(session_id)
        self._total -= self._sizes.pop(session_id, 0)

    def _forget_browser(self, session_id: str) -> None:
        browser = browser_of(session_id)
        self._browsers[browser] -= 1
        if not self._browsers[browser]:
            del self._browsers[browser]

    def lock(self, session_id: str) -> AbstractAsyncContextManager[None]:
        """Nothing beyond the process's own per-session locks: no other process shares these sessions."""
        return nullcontext()

    def knows_browser(self, session_id: str) -> bool:
        """Whether any tab of this session's browser has a session here."""
        with self._lock:
            return browser_of(session_id) in self._browsers

    def _expire(self, room: int = 0) -> None:
        """Drop what idled past the limit; then, while the sessions and `room` more bytes exceed the budget, what
        idled long enough to be evicted, least recently used first."""
        now = self._now()
        while self._sessions:
            oldest_id, oldest = next(iter(self._sessions.items()))
            idle = now - oldest.last_used
            if idle > self.idle_seconds or (self._total + room > self.max_bytes and idle > self.evictable_after):
                self._drop(oldest_id)
            else:
                break

    def get(self, session_id: str) -> SessionState | None:
        with self._lock:
            self._expire()
            state = self._sessions.get(session_id)
            if state is not None:
                state.last_used = self._now()
                self._sessions.move_to_end(session_id)
            return state

    def reserve(self) -> None:
        """Room for one more session, evicting idle ones if need be, or SessionsFull."""
        with self._lock:
            self._expire(room=1)
            if self._total + 1 > self.max_bytes:
                raise SessionsFull(f"{len(self._sessions)} sessions in use hold {self._total / 2**20:.3g} MB, the "
                                   f"budget of {self.max_bytes / 2**20:.3g} MB")

    def put(self, state: SessionState) -> None:
        with self._lock:
            state.last_used = self._now()
            size = state.nbytes()
            self._total += size - self._sizes.get(state.id, 0)
            self._sizes[state.id] = size
            if state.id not in self._sessions:
                self._browsers[browser_of(state.id)] += 1
            self._sessions[state.id] = state
            self._sessions.move_to_end(state.id)
            self._expire()

    def delete(self, session_id: str) -> None:
        with self._lock:
            self._drop(session_id)

    @property
    def total_bytes(self) -> int:
        with self._lock:
            return self._total

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._sessions)


class SessionIds:
    """Session ids only this server issues: a random id and its HMAC under `secret`, as "<id>.<signature>". A cookie a
    client makes up fails `verify` and is replaced, never adopted; one the server signed but no longer holds a session
    for names a lost session (expired, evicted, or from before a restart with the same secret)."""

    def __init__(self, secret: str) -> None:
        self._key = secret.encode()

    def _sign(self, session_id: str) -> str:
        digest = hmac.new(self._key, session_id.encode(), hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def issue(self) -> str:
        session_id = new_session_id()
        return f"{session_id}.{self._sign(session_id)}"

    def verify(self, cookie: str | None) -> bool:
        if not is_valid_session_id(cookie) or cookie is None or ":" in cookie:
            return False
        session_id, dot, signature = cookie.partition(".")
        return bool(dot) and hmac.compare_digest(signature, self._sign(session_id))


def browser_of(session_id: str) -> str:
    """'cookie:tab' -> 'cookie': the browser a tab's session belongs to."""
    return session_id.partition(":")[0]


def new_session_id() -> str:
    return secrets.token_urlsafe(18)


def is_valid_session_id(value: str | None) -> bool:
    """Cookie and tab values come from the client: accept only the URL-safe alphabet, the '.' of a signed id and the
    ':' that joins a tab to its browser's id, at most 80 characters."""
    if not value or len(value) > 80:
        return False
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_:.")
    return set(value) <= allowed

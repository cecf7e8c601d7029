"""Sessions in Redis, shared by every server process that points at the same database (CNN_SESSION_STORE=redis://…).

Each session is one key, `cnn:session:<id>`, holding SessionState.to_bytes (an .npz without pickle; a session that has
not stepped holds no weights, and loading it gives back the served ones), with a time to live of the idle limit,
renewed by every put and every get (GETEX), so use keeps a session alive. `cnn:browser:<cookie id>` says that some tab
of a browser has a session, with the same time to live. `cnn:sessions` is a sorted set of ids by expiry time: it
makes `len` (which /healthz calls) one cheap range removal and a count instead of a scan over every key.

Memory is bounded by Redis itself (its `maxmemory` and eviction policy), not here: `reserve` does nothing. A session
Redis evicts is lost like one that idled out, and counts in `len` until its idle limit passes.

Warm passes stay in each process (app.services.warm); a session changed by another process carries a new random
`version` in its header, so it never meets a pass computed for the old one. The calls are sync and short (one round
trip each): they run on the event loop and in worker threads alike; the client's pool is thread-safe.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import numpy as np
import redis

from app.errors import Overloaded
from app.services.sessions import SessionState, browser_of

PREFIX = "cnn:"
TIMEOUT_SECONDS = 5.0  # a Redis that does not answer in this time fails the request (503) rather than hanging it


class SessionStoreUnreachable(Exception):
    """The session store named by CNN_SESSION_STORE does not answer at start-up."""


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    return f"{scheme}{sep}{userinfo.partition(':')[0] + ':***@' if at else ''}{host}"


class RedisSessionStore:
    """The SessionStore protocol on a Redis database; `served` are the weights a session that has not stepped uses."""

    def __init__(self, url: str, idle_seconds: int, served: dict[str, np.ndarray]) -> None:
        self.idle_seconds = idle_seconds
        self._served = served
        self._redis: Any = redis.Redis.from_url(url, socket_timeout=TIMEOUT_SECONDS,
                                                socket_connect_timeout=TIMEOUT_SECONDS)
        try:
            self._redis.ping()
        except redis.RedisError as e:
            raise SessionStoreUnreachable(f"CNN_SESSION_STORE={redacted(url)}: Redis does not answer ({e})") from None

    @staticmethod
    def _key(session_id: str) -> str:
        return f"{PREFIX}session:{session_id}"

    @staticmethod
    def _browser_key(session_id: str) -> str:
        return f"{PREFIX}browser:{browser_of(session_id)}"

    def _call(self, what: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except redis.RedisError as e:
            raise Overloaded(f"the session store does not answer ({what}: {type(e).__name__}); try again in a "
                             "moment", retry_after=5) from None

    def shared_secret(self) -> str:
        """The key every process on this database signs cookies with: made by the first one to ask (SET NX), read by
        the others, so that `--workers N` and replicas need no CNN_SESSION_SECRET to accept each other's cookies."""
        key = f"{PREFIX}cookie-secret"
        self._redis.set(key, secrets.token_urlsafe(32), nx=True)
        return str(self._redis.get(key).decode("ascii"))

    def get(self, session_id: str) -> SessionState | None:
        def read() -> Any:
            data = self._redis.getex(self._key(session_id), ex=self.idle_seconds)
            if data is None:
                self._redis.zrem(f"{PREFIX}sessions", session_id)
            else:
                self._redis.zadd(f"{PREFIX}sessions", {session_id: time.time() + self.idle_seconds}, xx=True)
            return data

        data = self._call("get", read)
        return None if data is None else SessionState.from_bytes(data, self._served)

    def reserve(self) -> None:
        """Nothing to do: Redis's maxmemory policy bounds the memory sessions take."""

    def knows_browser(self, session_id: str) -> bool:
        """Whether any tab of this session's browser has put a session within the idle limit."""
        return bool(self._call("knows_browser", self._redis.exists, self._browser_key(session_id)))

    def put(self, state: SessionState) -> None:
        data = state.to_bytes()

        def write() -> None:
            now = time.time()
            pipe = self._redis.pipeline(transaction=False)
            pipe.set(self._key(state.id), data, ex=self.idle_seconds)
            pipe.set(self._browser_key(state.id), b"1", ex=self.idle_seconds)
            pipe.zadd(f"{PREFIX}sessions", {state.id: now + self.idle_seconds})
            pipe.zremrangebyscore(f"{PREFIX}sessions", "-inf", now)
            pipe.execute()

        self._call("put", write)

    def delete(self, session_id: str) -> None:
        def drop() -> None:
            pipe = self._redis.pipeline(transaction=False)
            pipe.delete(self._key(session_id))
            pipe.zrem(f"{PREFIX}sessions", session_id)
            pipe.execute()

        self._call("delete", drop)

    def __len__(self) -> int:
        """Sessions used within the idle limit: the sorted set of expiry times, trimmed of those past."""

        def count() -> int:
            pipe = self._redis.pipeline(transaction=False)
            pipe.zremrangebyscore(f"{PREFIX}sessions", "-inf", time.time())
            pipe.zcard(f"{PREFIX}sessions")
            return int(pipe.execute()[1])

        return int(self._call("len", count))

    def ttl(self, session_id: str) -> int:
        """Seconds the session has left (-2: none), for tests and operators."""
        return int(self._call("ttl", self._redis.ttl, self._key(session_id)))

    def stored_bytes(self, session_id: str) -> int:
        """The size of the session's value in Redis (0: none)."""
        return int(self._call("strlen", self._redis.strlen, self._key(session_id)))

    def close(self) -> None:
        self._redis.close()

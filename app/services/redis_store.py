"""Sessions in Redis, shared by every server process that points at the same database (CNN_SESSION_STORE=redis://…).

Each session is two keys: `cnn:session:<id>` holds SessionState.to_bytes(weights=False) (a JSON header and raw arrays,
no pickle: the input, the target, the loss history…), and `cnn:weights:<id>` its weights_bytes (the weights, once
the session has stepped, and the velocity: 0.5 MB for LeNet-5; a session that has not stepped stores none, and
loading it gives back the served ones). The weights are rewritten only when they changed, so a forward or a backward
writes a few KB. Both have a time to live of the idle limit, renewed by every put and every get (GETEX), so use keeps
a session alive. `cnn:browser:<cookie id>` says that some tab of a browser has a session, with the same time to
live. `cnn:sessions` is a sorted set of ids by expiry time: it makes `len` (which /healthz calls) one cheap range
removal and a count instead of a scan over every key. `cnn:cookie-secret` is the key every process signs cookies
with (`shared_secret`).

Memory is bounded by Redis itself (its `maxmemory` and eviction policy), not here: `reserve` does nothing. A session
Redis evicts is lost like one that idled out, and counts in `len` until its idle limit passes.

Warm passes stay in each process (app.services.warm); a session changed by another process carries a new random
`version` in its header, so it never meets a pass computed for the old one.

One learner's requests stay in order across processes: `lock` holds `cnn:lock:<id>` (SET NX with an expiry, so a
worker that dies holding it blocks the session for LOCK_SECONDS at most, never for good; a lock a stalled Redis kept
is released in the background as soon as it answers again).

The calls are sync and short (one round trip each); `remote = True` tells app.services.container to make them on a
worker thread, so a Redis that hangs never stalls the event loop. A Redis that fails or does not answer within
TIMEOUT_SECONDS fails the request with 503 and Retry-After, and for the next DOWN_SECONDS every call fails at once
without trying (a breaker), so an outage costs the server nothing while it lasts; the first call after that tries
again, and full service resumes as soon as Redis answers.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from app.errors import Busy, Overloaded
from app.services.sessions import SessionState, browser_of

PREFIX = "cnn:"
# A round trip takes well under a millisecond on a LAN, and the largest value (a stepped session) is ~0.5 MB: a
# Redis that has not answered in a second is down or stalled, and the learner is better told so than kept waiting.
TIMEOUT_SECONDS = 1.0
DOWN_SECONDS = 1.0  # after a failure, calls fail at once for this long (the Retry-After the learner is given)
# The longest one request may hold a session's lock (a queued gradient check is the longest); then it expires, so a
# crashed worker never leaves a learner locked out. A request waits at most LOCK_WAIT_SECONDS for it, then 429.
LOCK_SECONDS = 30.0
LOCK_WAIT_SECONDS = 10.0
RELEASE_LOCK = """if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"""


log = logging.getLogger("cnn_visualizer")


class SessionStoreUnreachable(Exception):
    """The session store named by CNN_SESSION_STORE does not answer at start-up."""


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    return f"{scheme}{sep}{userinfo.partition(':')[0] + ':***@' if at else ''}{host}"


class RedisSessionStore:
    """The SessionStore protocol on a Redis database; `served` are the weights a session that has not stepped uses."""

    remote = True  # each call is a network round trip: made off the event loop (app.services.container)

    def __init__(self, url: str, idle_seconds: int, served: dict[str, np.ndarray]) -> None:
        self.idle_seconds = idle_seconds
        self._served = served
        self._down_until = 0.0  # time.monotonic() before which calls fail at once: the breaker
        self._releasing: set[asyncio.Task[None]] = set()  # locks to release once Redis answers again
        # One immediate retry on a broken connection (a pooled one that Redis closed, e.g. after its restart), none on
        # a timeout: redis-py's default, three retries with backoff, would keep a learner waiting 4 s for a stall.
        retry = Retry(NoBackoff(), retries=1, supported_errors=(redis.ConnectionError,))
        self._redis: Any = redis.Redis.from_url(url, socket_timeout=TIMEOUT_SECONDS,
                                                socket_connect_timeout=TIMEOUT_SECONDS, retry=retry)
        self._release_script = self._redis.register_script(RELEASE_LOCK)
        try:
            self._redis.ping()
        except redis.RedisError as e:
            raise SessionStoreUnreachable(f"CNN_SESSION_STORE={redacted(url)}: Redis does not answer ({e})") from None

    @staticmethod
    def _key(session_id: str) -> str:
        return f"{PREFIX}session:{session_id}"

    @staticmethod
    def _weights_key(session_id: str) -> str:
        return f"{PREFIX}weights:{session_id}"

    @staticmethod
    def _browser_key(session_id: str) -> str:
        return f"{PREFIX}browser:{browser_of(session_id)}"

    def _call(self, what: str, fn: Any, *args: Any) -> Any:
        if time.monotonic() < self._down_until:
            raise self._unavailable(what, "it failed a moment ago")
        try:
            return fn(*args)
        except redis.RedisError as e:
            self._down_until = time.monotonic() + DOWN_SECONDS
            log.warning("session store: %s failed (%s: %s); failing fast for %g s", what, type(e).__name__, e,
                        DOWN_SECONDS)
            raise self._unavailable(what, type(e).__name__) from None

    @staticmethod
    def _unavailable(what: str, why: str) -> Overloaded:
        return Overloaded(f"the server cannot reach its session store right now ({what}: {why}); nothing you did was "
                          "lost, try again in a moment", retry_after=max(1, math.ceil(DOWN_SECONDS)))

    @asynccontextmanager
    async def lock(self, session_id: str) -> AsyncIterator[None]:
        """Hold the session's lock in Redis for the time of one request, so two processes never interleave one
        learner's requests. Busy (429) if another request keeps it past LOCK_WAIT_SECONDS.

        The lock is `cnn:lock:<id>` = a random token, set only if absent and expiring after LOCK_SECONDS; it is
        released by deleting it only while it still holds our token (a Lua script, one atomic step)."""
        key, token = f"{PREFIX}lock:{session_id}", secrets.token_hex(16)
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        delay = 0.002

        def acquire() -> bool:
            return bool(self._redis.set(key, token, nx=True, px=int(LOCK_SECONDS * 1000)))

        # Polled rather than blocking in Redis: a blocked call would hold a worker thread for the whole wait.
        while True:
            try:
                if await asyncio.to_thread(self._call, "lock", acquire):
                    break
            except Overloaded:
                # The SET may have reached a stalled Redis, which will carry it out once it wakes: take the lock
                # back then, or it would lock the learner out for LOCK_SECONDS after Redis is back.
                self._release_in_background(key, token)
                raise
            if time.monotonic() + delay > deadline:
                raise Busy()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
        try:
            yield
        finally:
            if not await asyncio.to_thread(self._release, key, token):
                self._release_in_background(key, token)

    def _release(self, key: str, token: str) -> bool:
        """Delete the lock if it still holds `token`; False if Redis could not be reached."""
        try:
            self._release_script(keys=[key], args=[token])
        except redis.RedisError:
            return False
        return True

    def _release_in_background(self, key: str, token: str) -> None:
        """Keep trying to release the lock until Redis answers again or the lock has expired by itself."""

        async def retry() -> None:
            deadline = time.monotonic() + LOCK_SECONDS
            while time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                if await asyncio.to_thread(self._release, key, token):
                    return

        task = asyncio.create_task(retry())
        self._releasing.add(task)  # a reference, so the task is not collected while it runs
        task.add_done_callback(self._releasing.discard)

    def shared_secret(self) -> str:
        """The key every process on this database signs cookies with: made by the first one to ask (SET NX), read by
        the others, so that `--workers N` and replicas need no CNN_SESSION_SECRET to accept each other's cookies."""
        key = f"{PREFIX}cookie-secret"
        self._redis.set(key, secrets.token_urlsafe(32), nx=True)
        return str(self._redis.get(key).decode("ascii"))

    def get(self, session_id: str) -> SessionState | None:
        def read() -> Any:
            # One round trip: the session, its weights, their time to live renewed, and its expiry in the count (XX:
            # only if counted already; a session gone is dropped from the count below, in the rare case it is there).
            pipe = self._redis.pipeline(transaction=False)
            pipe.getex(self._key(session_id), ex=self.idle_seconds)
            pipe.getex(self._weights_key(session_id), ex=self.idle_seconds)
            pipe.zadd(f"{PREFIX}sessions", {session_id: time.time() + self.idle_seconds}, xx=True)
            data, weights, _ = pipe.execute()
            if data is None:
                self._redis.zrem(f"{PREFIX}sessions", session_id)
            return data, weights

        data, weights = self._call("get", read)
        if data is None:
            return None
        try:
            state = SessionState.from_bytes(data, self._served, weights=weights)
        except ValueError as e:  # stored by another version of the server, or its weights evicted: lost, and the
            # page sends its input again
            log.warning("session %s: cannot read what is stored (%s); starting it again", session_id, e)
            return None
        state.stored_weights = state.weights_version
        return state

    def reserve(self) -> None:
        """Nothing to do: Redis's maxmemory policy bounds the memory sessions take."""

    def knows_browser(self, session_id: str) -> bool:
        """Whether any tab of this session's browser has put a session within the idle limit."""
        return bool(self._call("knows_browser", self._redis.exists, self._browser_key(session_id)))

    def put(self, state: SessionState) -> None:
        head = state.to_bytes(weights=False)
        # The weights (0.5 MB once a session has stepped) only when they changed since they were stored: a forward
        # or a backward rewrites a few KB.
        weights = state.weights_bytes() if state.weights_version != state.stored_weights else None

        def write() -> None:
            now = time.time()
            pipe = self._redis.pipeline(transaction=False)
            pipe.set(self._key(state.id), head, ex=self.idle_seconds)
            if weights is None:
                pipe.expire(self._weights_key(state.id), self.idle_seconds)
            else:
                pipe.set(self._weights_key(state.id), weights, ex=self.idle_seconds)
            pipe.set(self._browser_key(state.id), b"1", ex=self.idle_seconds)
            pipe.zadd(f"{PREFIX}sessions", {state.id: now + self.idle_seconds})
            pipe.zremrangebyscore(f"{PREFIX}sessions", "-inf", now)
            pipe.execute()

        self._call("put", write)
        state.stored_weights = state.weights_version

    def delete(self, session_id: str) -> None:
        def drop() -> None:
            pipe = self._redis.pipeline(transaction=False)
            pipe.delete(self._key(session_id), self._weights_key(session_id))
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
        """The size of the session's values in Redis, its weights included (0: none)."""
        def sizes() -> int:
            pipe = self._redis.pipeline(transaction=False)
            pipe.strlen(self._key(session_id))
            pipe.strlen(self._weights_key(session_id))
            return sum(pipe.execute())

        return int(self._call("strlen", sizes))

    def close(self) -> None:
        self._redis.close()

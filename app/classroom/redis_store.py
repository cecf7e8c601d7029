"""Classes in Redis, shared by every process pointed at it (CNN_SESSION_STORE=redis://…), and their events through
Redis pub/sub, so a teacher's socket on one process sees the drawings of students on others.

Keys, all with the class's time to live, renewed together by every write (a Lua script checks that the class still
exists first, so a write never brings an ended class back):

    cnn:class:<code>            hash: info (JSON: title, PIN hash, token secret, created), pin, lesson (JSON or null)
    cnn:class:<code>:students   hash: student id -> the student's tile (JSON)
    cnn:class:<code>:online     hash: student id -> sockets open (a process that dies leaves its count until expiry)
    cnn:class:<code>:pinfails   PIN tries within the window, right ones taken back (INCR, EXPIRE NX)
    cnn:classes                 sorted set: code -> expiry time, so the number of classes is one trim and a count
    cnn:class-events:<code>     the pub/sub channel of the class's events (app.classroom.store)

A write and its event are one script, so the event goes out only if the write happened, and in its order.

Each process listens with one PSUBSCRIBE on cnn:class-events:*, whatever classes its sockets are in: one connection,
nothing to (re)subscribe as sockets come and go, at the cost of receiving events of classes it does not serve (a few
hundred small messages a second at the limits). The listener reconnects whenever its connection fails, and then calls
`on_reconnect`, so the hub can send its sockets the state they may have missed.

Calls fail fast, as app.services.redis_store's do: TIMEOUT_SECONDS per call, then for DOWN_SECONDS every call fails
at once (a breaker), each failure an Overloaded (503 with Retry-After; an error message on a socket).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

import redis
import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.retry import Retry

from app.classroom.errors import class_store_busy, class_store_unreachable
from app.classroom.store import Added, ClassRecord, Event, Listener, StateField, tile
from app.services.redis_store import DOWN_SECONDS, TIMEOUT_SECONDS

T = TypeVar("T")
PREFIX = "cnn:class:"
CLASSES = "cnn:classes"
CHANNEL = "cnn:class-events:"
# Connections to Redis per process, and calls in flight: more calls wait their turn (up to TURN_WAIT_SECONDS, then
# "busy"), where redis-py's default pool refused the 101st outright as if Redis were away.
POOL_CONNECTIONS = 64
TURN_WAIT_SECONDS = 10.0
RECONNECT_SECONDS = (0.1, 0.2, 0.5, 1.0)  # the listener's waits between tries, the last one repeated

log = logging.getLogger("cnn_visualizer")

CREATE = """
redis.call('zremrangebyscore', KEYS[1], '-inf', ARGV[1])
if redis.call('exists', KEYS[2]) == 1 then return 'taken' end
if redis.call('zcard', KEYS[1]) >= tonumber(ARGV[2]) then return 'full' end
redis.call('hset', KEYS[2], 'info', ARGV[6], 'pin', 'null', 'lesson', 'null')
redis.call('expire', KEYS[2], ARGV[3])
redis.call('zadd', KEYS[1], ARGV[4], ARGV[5])
return 'created'
"""

# KEYS: the class, its students, its online counts, the set of classes.
# ARGV: ttl, expiry time, code, what ('' | add | save | meta), field, value, most students, channel, event ('' none).
WRITE = """
if redis.call('exists', KEYS[1]) == 0 then return 'gone' end
local what = ARGV[4]
if what == 'add' then
  if redis.call('hexists', KEYS[2], ARGV[5]) == 0 and redis.call('hlen', KEYS[2]) >= tonumber(ARGV[7]) then
    return 'full'
  end
  redis.call('hset', KEYS[2], ARGV[5], ARGV[6])
elseif what == 'save' then
  if redis.call('hexists', KEYS[2], ARGV[5]) == 0 then return 'gone' end
  redis.call('hset', KEYS[2], ARGV[5], ARGV[6])
elseif what == 'meta' then
  redis.call('hset', KEYS[1], ARGV[5], ARGV[6])
end
for i = 1, 3 do redis.call('expire', KEYS[i], ARGV[1]) end
redis.call('zadd', KEYS[4], ARGV[2], ARGV[3])
if ARGV[9] ~= '' then redis.call('publish', ARGV[8], ARGV[9]) end
return 'ok'
"""

ONLINE = """
if redis.call('exists', KEYS[1]) == 0 then return 0 end
local n = redis.call('hincrby', KEYS[2], ARGV[1], ARGV[2])
if n < 0 then redis.call('hset', KEYS[2], ARGV[1], 0); n = 0 end
redis.call('expire', KEYS[2], ARGV[3])
return n
"""

END = """
local existed = redis.call('exists', KEYS[1])
redis.call('del', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
redis.call('zrem', KEYS[5], ARGV[1])
if existed == 1 then redis.call('publish', ARGV[2], ARGV[3]) end
return existed
"""


def _keys(code: str) -> list[str]:
    return [PREFIX + code, f"{PREFIX}{code}:students", f"{PREFIX}{code}:online"]


class RedisClassStore:
    remote = True

    def __init__(self, url: str, ttl: int) -> None:
        self.ttl = ttl
        self.listener: Listener | None = None
        self.on_reconnect: Callable[[], None] | None = None
        self._down_until = 0.0
        retry = Retry(NoBackoff(), retries=1, supported_errors=(redis.ConnectionError,))
        # As many connections as calls may be in flight (_turns): a call never waits here, it waited for its turn.
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=POOL_CONNECTIONS, timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS,
            socket_connect_timeout=TIMEOUT_SECONDS, retry=retry)
        self._redis: Any = aioredis.Redis(connection_pool=pool)
        # The listener's own client: its reads wait as long as no event comes, and a PING every few seconds notices
        # a connection that died quietly.
        self._events: Any = aioredis.Redis.from_url(url, socket_connect_timeout=TIMEOUT_SECONDS,
                                                    health_check_interval=5)
        self._create = self._redis.register_script(CREATE)
        self._write = self._redis.register_script(WRITE)
        self._online = self._redis.register_script(ONLINE)
        self._end = self._redis.register_script(END)
        self._listening: asyncio.Task[None] | None = None
        self._turns = asyncio.Semaphore(POOL_CONNECTIONS)  # calls in flight: never more than the pool's connections

    async def _call(self, what: str, make: Callable[[], Awaitable[T]]) -> T:
        if time.monotonic() < self._down_until:
            raise class_store_unreachable(f"{what}: it failed a moment ago")
        # A turn first: waiting for one is load (a school opening its sockets at once), said as busy and never taken
        # for Redis being away, which would turn every class's sockets away for DOWN_SECONDS.
        try:
            await asyncio.wait_for(self._turns.acquire(), TURN_WAIT_SECONDS)
        except TimeoutError:
            raise class_store_busy(what) from None
        try:
            return await make()
        except (redis.RedisError, OSError) as e:
            self._down_until = time.monotonic() + DOWN_SECONDS
            log.warning("class store: %s failed (%s: %s); failing fast for %g s", what, type(e).__name__, e,
                        DOWN_SECONDS)
            raise class_store_unreachable(f"{what}: {type(e).__name__}") from None
        finally:
            self._turns.release()

    async def start(self) -> None:
        self._listening = asyncio.create_task(self._listen())

    async def close(self) -> None:
        if self._listening is not None:
            self._listening.cancel()
            try:
                await self._listening
            except asyncio.CancelledError:
                pass
        await self._redis.aclose()
        await self._events.aclose()

    async def _listen(self) -> None:
        """Receive every class's events and hand them to the listener; reconnect, for as long as the server runs."""
        failures = 0
        while True:
            pubsub = self._events.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(CHANNEL + "*")
                if failures and self.on_reconnect is not None:
                    log.info("class store: listening to class events again")
                    self.on_reconnect()
                failures = 0
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message["type"] == "pmessage":
                        self._deliver(message["channel"], message["data"])
            except (redis.RedisError, OSError) as e:
                if not failures:
                    log.warning("class store: the event listener lost Redis (%s: %s); reconnecting",
                                type(e).__name__, e)
                failures += 1
            finally:
                try:
                    await pubsub.aclose()
                except (redis.RedisError, OSError):
                    pass
            await asyncio.sleep(RECONNECT_SECONDS[min(failures, len(RECONNECT_SECONDS)) - 1])

    def _deliver(self, channel: bytes, data: bytes) -> None:
        code = channel.decode()[len(CHANNEL):]
        try:
            event = json.loads(data)
        except ValueError:
            log.warning("class store: an event on %s is not JSON; ignored", channel)
            return
        if self.listener is not None:
            self.listener(code, event)

    async def _run_write(self, what: str, code: str, kind: str, name: str = "", value: str = "",
                         max_students: int = 0, event: Event | None = None) -> str:
        args: list[str | int | float] = [self.ttl, time.time() + self.ttl, code, kind, name, value, max_students,
                                         CHANNEL + code, json.dumps(event) if event is not None else ""]
        result = await self._call(what, lambda: self._write(keys=[*_keys(code), CLASSES], args=args))
        return str(result.decode() if isinstance(result, bytes) else result)

    async def create(self, record: ClassRecord, max_classes: int) -> Literal["created", "full", "taken"]:
        now = time.time()
        args: list[str | int | float] = [now, max_classes, self.ttl, now + self.ttl, record.code,
                                         json.dumps(record.info())]
        result = await self._call("create", lambda: self._create(keys=[CLASSES, PREFIX + record.code], args=args))
        answer = result.decode() if isinstance(result, bytes) else str(result)
        return "created" if answer == "created" else "full" if answer == "full" else "taken"

    async def load(self, code: str) -> ClassRecord | None:
        async def read() -> tuple[dict[bytes, bytes], int]:
            pipe = self._redis.pipeline(transaction=False)
            pipe.hgetall(PREFIX + code)
            pipe.ttl(PREFIX + code)
            fields, ttl = await pipe.execute()
            return fields, ttl

        fields, ttl = await self._call("load", read)
        if not fields or b"info" not in fields:
            return None
        info = json.loads(fields[b"info"])
        pin, lesson = (json.loads(fields.get(name, b"null")) for name in (b"pin", b"lesson"))
        return ClassRecord(code, info["title"], info["pin_hash"], info["secret"], info["created"], pin=pin,
                           lesson=lesson, expires_in=max(0, int(ttl)))

    async def touch(self, code: str) -> bool:
        return await self._run_write("touch", code, "") == "ok"

    async def student(self, code: str, student_id: str) -> dict[str, Any] | None:
        data = await self._call("student", lambda: self._redis.hget(f"{PREFIX}{code}:students", student_id))
        return None if data is None else dict(json.loads(data))

    async def tiles(self, code: str) -> list[dict[str, Any]]:
        async def read() -> tuple[dict[bytes, bytes], dict[bytes, bytes]]:
            pipe = self._redis.pipeline(transaction=False)
            pipe.hgetall(f"{PREFIX}{code}:students")
            pipe.hgetall(f"{PREFIX}{code}:online")
            students, online = await pipe.execute()
            return students, online

        students, online = await self._call("tiles", read)
        tiles = [tile(json.loads(data), int(online.get(sid, 0))) for sid, data in students.items()]
        return sorted(tiles, key=lambda t: t.get("joined", 0))

    async def add_student(self, code: str, student: dict[str, Any], max_students: int) -> Added:
        result = await self._run_write("join", code, "add", student["id"], json.dumps(student), max_students)
        return "added" if result == "ok" else "full" if result == "full" else "gone"

    async def save_student(self, code: str, student: dict[str, Any], event: Event | None) -> bool:
        return await self._run_write("drawing", code, "save", student["id"], json.dumps(student),
                                     event=event) == "ok"

    async def set_state(self, code: str, name: StateField, value: dict[str, Any] | None, event: Event) -> bool:
        return await self._run_write(name, code, "meta", name, json.dumps(value), event=event) == "ok"

    async def online(self, code: str, student_id: str, delta: int) -> int:
        keys = _keys(code)[::2]
        result = await self._call("online", lambda: self._online(keys=keys, args=[student_id, delta, self.ttl]))
        return int(result)

    async def pin_try(self, code: str, window: int, undo: bool = False) -> tuple[int, int]:
        key = f"{PREFIX}{code}:pinfails"

        async def count() -> tuple[int, int]:
            pipe = self._redis.pipeline(transaction=True)
            pipe.incrby(key, -1 if undo else 1)
            pipe.expire(key, window, nx=True)
            pipe.ttl(key)
            tries, _, ttl = await pipe.execute()
            return int(tries), max(0, int(ttl))

        return await self._call("pin", count)

    async def end(self, code: str, event: Event) -> bool:
        keys = [*_keys(code), f"{PREFIX}{code}:pinfails", CLASSES]
        return bool(await self._call("end", lambda: self._end(keys=keys, args=[code, CHANNEL + code,
                                                                              json.dumps(event)])))

    async def publish(self, code: str, event: Event) -> None:
        await self._call("publish", lambda: self._redis.publish(CHANNEL + code, json.dumps(event)))

    async def count(self) -> int:
        async def read() -> int:
            pipe = self._redis.pipeline(transaction=False)
            pipe.zremrangebyscore(CLASSES, "-inf", time.time())
            pipe.zcard(CLASSES)
            return int((await pipe.execute())[1])

        return await self._call("count", read)

    async def sweep(self) -> None:
        """Redis drops expired classes itself; what is left is their codes in the set of classes."""
        await self._call("sweep", lambda: self._redis.zremrangebyscore(CLASSES, "-inf", time.time()))

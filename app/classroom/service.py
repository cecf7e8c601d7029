"""Class mode's operations: start a class, reopen its teacher screen with the PIN, let a student join or come back.
The sockets' side is app.classroom.sockets; both reach the store (memory or Redis) and the hub through ClassService.

Bounds kept here: classes per deployment (the store counts them), students per class, new students per class and
process (JOINS_BURST at once, then JOINS_PER_SECOND: a room of people typing a code, not a script filling the class;
a student coming back with a token is not counted), PIN tries per class (app.classroom.keys), and lookups of codes
that do not exist (UNKNOWN_BURST, then UNKNOWN_RATE a second, per process), which is what a guesser would make.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from app.classroom import keys, wire
from app.classroom.bucket import TokenBucket
from app.classroom.errors import ClassFull, ClassNotFound, NoPin, TooManyTries, WrongPin, classes_full
from app.classroom.hub import Hub
from app.classroom.redis_store import RedisClassStore
from app.classroom.schemas import (
    ClassLimits,
    ClassOut,
    CreateClassRequest,
    CreateClassResponse,
    JoinRequest,
    JoinResponse,
    LastDrawing,
    StudentOut,
    TeacherTokenResponse,
)
from app.classroom.store import ClassRecord, ClassStore, MemoryClassStore, tile
from app.config import Settings
from app.errors import InvalidRequest, Overloaded

log = logging.getLogger("cnn_visualizer")
UNKNOWN_RATE, UNKNOWN_BURST = 2.0, 30
JOINS_PER_SECOND, JOINS_BURST = 5.0, 20
SWEEP_SECONDS = 30.0
RETRY_SECONDS = 30.0


class ClassService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ttl = settings.class_ttl_seconds
        self.store: ClassStore = (MemoryClassStore(self.ttl) if settings.session_store == "memory"
                                  else RedisClassStore(settings.session_store, self.ttl))
        self.hub = Hub()
        self.store.listener = self.hub.dispatch
        if isinstance(self.store, RedisClassStore):
            self.store.on_reconnect = self._resync_soon
        self._unknown = TokenBucket(UNKNOWN_RATE, UNKNOWN_BURST)
        self._joins: dict[str, TokenBucket] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeping: asyncio.Task[None] | None = None

    @property
    def limits(self) -> ClassLimits:
        return ClassLimits(students=self.settings.class_max_students,
                           drawings_per_second=self.settings.class_drawings_per_second,
                           message_bytes=wire.MAX_MESSAGE_BYTES)

    async def start(self) -> None:
        await self.store.start()
        self._sweeping = asyncio.create_task(self._sweep_forever())

    async def stop(self) -> None:
        for task in [self._sweeping, *self._tasks]:
            if task is not None:
                task.cancel()
        await self.store.close()

    # ------------------------------------------------------------------------------------------------ HTTP

    async def create(self, body: CreateClassRequest) -> CreateClassResponse:
        title = wire.class_title(body.title) if body.title is not None else None
        pin_hash = None
        if body.pin is not None:
            if not keys.PIN_PATTERN.fullmatch(body.pin):
                raise InvalidRequest("the PIN must be 4 to 8 digits")
            pin_hash = await asyncio.to_thread(keys.hash_pin, body.pin)
        secret = keys.new_secret()
        for _ in range(5):  # a code already in use (one chance in millions) draws another
            record = ClassRecord(keys.new_code(), title or "", pin_hash, secret, time.time())
            created = await self.store.create(record, self.settings.class_max_classes)
            if created == "full":
                raise classes_full(self.settings.class_max_classes)
            if created == "created":
                log.info("class %s started", record.code)
                return CreateClassResponse(code=record.code, teacher_token=keys.teacher_token(secret),
                                           expires_in=self.ttl, limits=self.limits, join_url=f"/?class={record.code}")
        raise Overloaded("the server could not find a free class code; try again", retry_after=1)

    async def find(self, code: str) -> ClassRecord:
        """The class under `code` (any case), or ClassNotFound; too many codes that do not exist are TooManyTries."""
        normal = keys.normal_code(code)
        record = await self.store.load(normal) if normal is not None else None
        if record is None:
            if not self._unknown.take():
                raise TooManyTries("too many tries with class codes that do not exist",
                                   math.ceil(self._unknown.wait_seconds()) or 1)
            raise ClassNotFound()
        return record

    async def reopen(self, code: str, pin: str) -> TeacherTokenResponse:
        record = await self.find(code)
        if record.pin_hash is None:
            raise NoPin()
        # Counted before it is checked, so that tries sent at once cannot all pass the count; a right one is taken
        # back off it.
        tries, retry_after = await self.store.pin_try(record.code, keys.PIN_WINDOW_SECONDS)
        if tries > keys.PIN_TRIES:
            raise TooManyTries("too many wrong PINs for this class", max(1, retry_after))
        if not keys.PIN_PATTERN.fullmatch(pin) or not await asyncio.to_thread(keys.pin_matches, record.pin_hash, pin):
            raise WrongPin()
        await self.store.pin_try(record.code, keys.PIN_WINDOW_SECONDS, undo=True)
        await self.store.touch(record.code)
        return TeacherTokenResponse(teacher_token=keys.teacher_token(record.secret))

    async def join(self, code: str, body: JoinRequest) -> JoinResponse:
        name = wire.display_name(body.name)
        record = await self.find(code)
        holder = keys.token_holder(record.secret, body.token)
        student = await self.store.student(record.code, holder[1]) if holder and holder[0] == "student" else None
        if student is None:
            self._take_join(record.code)
            now = time.time()
            student = {"id": keys.new_student_id(), "name": name, "image": None, "prediction": None,
                       "probabilities": None, "updated": now, "joined": now}
            added = await self.store.add_student(record.code, student, self.settings.class_max_students)
            if added == "full":
                raise ClassFull(self.settings.class_max_students)
            if added == "gone":
                raise ClassNotFound()
            await self.store.publish(record.code, tile_event(student, online=False))
        elif student["name"] != name:  # back under another spelling: the wall shows the new one
            student = {**student, "name": name}
            await self.store.save_student(record.code, student, tile_event(student, online=False))
        else:
            await self.store.touch(record.code)
        last = (LastDrawing(image=student["image"], prediction=student["prediction"],
                            probabilities=student["probabilities"]) if student["image"] else None)
        return JoinResponse.model_validate({
            "student": StudentOut(id=student["id"], name=student["name"]),
            "token": keys.student_token(record.secret, student["id"]),
            "class": class_out(record), "last": last, "limits": self.limits})

    def _take_join(self, code: str) -> None:
        bucket = self._joins.get(code)
        if bucket is None:
            if len(self._joins) > 4 * self.settings.class_max_classes:  # bounded: the oldest classes' buckets go
                for old in list(self._joins)[: len(self._joins) // 2]:
                    del self._joins[old]
            bucket = self._joins[code] = TokenBucket(JOINS_PER_SECOND, JOINS_BURST)
        if not bucket.take():
            raise TooManyTries("too many students are joining this class at once",
                               math.ceil(bucket.wait_seconds()) or 1)

    # ------------------------------------------------------------------------------------- keeping up

    async def _sweep_forever(self) -> None:
        """Tell the sockets of classes that expired meanwhile (nobody active for the time to live) that they did."""
        every = min(SWEEP_SECONDS, max(0.2, self.ttl / 4))
        while True:
            await asyncio.sleep(every)
            try:
                await self.store.sweep()
                for code in list(self.hub.rooms):
                    if await self.store.load(code) is None:
                        self.hub.dispatch(code, ended_event("expired"))
            except Overloaded:
                continue
            except Exception:  # the sweep must outlive anything
                log.exception("class mode: the sweep failed")

    def _resync_soon(self) -> None:
        self._background(self._resync())

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)  # a reference, so the task is not collected while it runs
        task.add_done_callback(self._tasks.discard)

    def retry_later(self, what: Callable[[], Awaitable[object]]) -> None:
        """Keep trying `what` (e.g. a socket's leaving, counted in Redis) until the store takes it, for RETRY_SECONDS
        at most: a call lost while Redis was away would leave a student shown online until the class expires."""

        async def retry() -> None:
            deadline = time.monotonic() + RETRY_SECONDS
            while time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                try:
                    await what()
                    return
                except Overloaded:
                    continue

        self._background(retry())

    async def _resync(self) -> None:
        """After the listener was cut off from Redis, each local socket gets the state it may have missed: a
        teacher's a roster, a student's a welcome, as on connecting (both replace what the screen held)."""
        for code in list(self.hub.rooms):
            try:
                record = await self.store.load(code)
                if record is None:
                    self.hub.dispatch(code, ended_event("expired"))
                    continue
                tiles = {t["id"]: t for t in await self.store.tiles(code)}
            except Overloaded:
                return  # the listener reconnects again, and calls this again
            for member in list(self.hub.rooms.get(code, ())):
                if member.role == "teacher":
                    member.outbox.put(roster(record, list(tiles.values())))
                elif member.student_id in tiles:
                    member.outbox.put(welcome(record, tiles[member.student_id], self.limits))


def class_out(record: ClassRecord) -> ClassOut:
    return ClassOut(code=record.code, title=record.title or None, pin=record.pin, lesson=record.lesson,
                    expires_in=record.expires_in)


def tile_event(student: dict[str, Any], online: bool) -> dict[str, Any]:
    return {"to": "teachers", "message": {"type": "tile", "student": tile(student, int(online))}}


def roster(record: ClassRecord, tiles: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "roster", "students": tiles, "class": class_out(record).model_dump()}


def welcome(record: ClassRecord, student: dict[str, Any], limits: ClassLimits) -> dict[str, Any]:
    last = {k: student[k] for k in ("image", "prediction", "probabilities")} if student["image"] else None
    return {"type": "welcome", "student": {"id": student["id"], "name": student["name"]},
            "class": class_out(record).model_dump(), "last": last, "limits": limits.model_dump()}


def pin_message(pin: dict[str, Any] | None) -> dict[str, Any]:
    return {"type": "pin", **pin} if pin else {"type": "unpin"}


def lesson_message(lesson: dict[str, Any] | None) -> dict[str, Any]:
    return {"type": "lesson", **lesson} if lesson else {"type": "lesson", "id": None, "card": None}


def ended_event(why: str) -> dict[str, Any]:
    words = {"ended": "the teacher ended the class", "expired": "the class expired: nobody was active in it for a "
             "while"}
    return {"to": "all", "message": {"type": "ended", "reason": why, "detail": words[why]}}

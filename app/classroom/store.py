"""Where classes live: the ClassStore protocol, its record types, and the in-memory store of a lone process.

A class is three things: its record (title, hashed PIN, token secret, what the teacher pinned and the lesson card
pushed), its students (each a tile: id, name, last drawing and prediction, when it changed) and how many sockets
each student has open (`online`). All of it expires `ttl` seconds after the last activity (a join, a drawing, a
teacher's message, a socket opening) and is dropped at once when the class ends.

Events (a tile changed, a pin, a lesson card, the end) are published per class to every process serving it: here
they go straight to `listener` (app.classroom.hub); app.classroom.redis_store sends them through Redis pub/sub.
Each event is {"to": "teachers" | "students" | "all", "message": {...what the sockets receive}}.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Event = dict[str, Any]
Listener = Callable[[str, Event], None]
Added = Literal["added", "full", "gone"]
StateField = Literal["pin", "lesson"]


@dataclass
class ClassRecord:
    code: str
    title: str
    pin_hash: str | None
    secret: str
    created: float
    pin: dict[str, Any] | None = None  # {"student", "name", "image"}: the drawing the teacher pinned, as it was then
    lesson: dict[str, Any] | None = None  # {"id", "card"}
    expires_in: int = 0  # seconds, as of reading

    def info(self) -> dict[str, Any]:
        """The fixed part, as stored."""
        return {"title": self.title, "pin_hash": self.pin_hash, "secret": self.secret, "created": self.created}


def tile(student: dict[str, Any], online: int) -> dict[str, Any]:
    """A student as the teacher's wall shows it."""
    return {**student, "online": online > 0}


class ClassStore(Protocol):
    remote: bool  # True when a call goes over the network (its failures are 503s, app.classroom.errors)
    listener: Listener | None  # where this process's events arrive (app.classroom.hub)

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def create(self, record: ClassRecord, max_classes: int) -> Literal["created", "full", "taken"]: ...
    async def load(self, code: str) -> ClassRecord | None: ...
    async def touch(self, code: str) -> bool: ...
    async def student(self, code: str, student_id: str) -> dict[str, Any] | None: ...
    async def tiles(self, code: str) -> list[dict[str, Any]]: ...
    async def add_student(self, code: str, student: dict[str, Any], max_students: int) -> Added: ...
    async def save_student(self, code: str, student: dict[str, Any], event: Event | None) -> bool: ...
    async def set_state(self, code: str, name: StateField, value: dict[str, Any] | None, event: Event) -> bool: ...
    async def online(self, code: str, student_id: str, delta: int) -> int: ...
    async def pin_try(self, code: str, window: int, undo: bool = False) -> tuple[int, int]: ...
    async def end(self, code: str, event: Event) -> bool: ...
    async def publish(self, code: str, event: Event) -> None: ...
    async def count(self) -> int: ...
    async def sweep(self) -> None: ...


@dataclass
class _Room:
    record: ClassRecord
    expires: float
    students: dict[str, dict[str, Any]] = field(default_factory=dict)
    online: dict[str, int] = field(default_factory=dict)
    pin_tries: list[float] = field(default_factory=list)  # when each counted PIN try stops counting


class MemoryClassStore:
    """The classes of one process, in a dict; bounded by the number of classes times the students of each."""

    remote = False

    def __init__(self, ttl: int) -> None:
        self.ttl = ttl
        self.listener: Listener | None = None
        self._rooms: dict[str, _Room] = {}

    def _room(self, code: str, touch: bool = False) -> _Room | None:
        room = self._rooms.get(code)
        now = time.monotonic()
        if room is not None and room.expires <= now:
            del self._rooms[code]
            return None
        if room is not None and touch:
            room.expires = now + self.ttl
        return room

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._rooms.clear()

    async def create(self, record: ClassRecord, max_classes: int) -> Literal["created", "full", "taken"]:
        await self.sweep()
        if record.code in self._rooms:
            return "taken"
        if len(self._rooms) >= max_classes:
            return "full"
        self._rooms[record.code] = _Room(record, time.monotonic() + self.ttl)
        return "created"

    async def load(self, code: str) -> ClassRecord | None:
        room = self._room(code)
        if room is None:
            return None
        room.record.expires_in = max(0, round(room.expires - time.monotonic()))
        return room.record

    async def touch(self, code: str) -> bool:
        return self._room(code, touch=True) is not None

    async def student(self, code: str, student_id: str) -> dict[str, Any] | None:
        room = self._room(code)
        return None if room is None else room.students.get(student_id)

    async def tiles(self, code: str) -> list[dict[str, Any]]:
        room = self._room(code)
        if room is None:
            return []
        return [tile(s, room.online.get(sid, 0)) for sid, s in room.students.items()]

    async def add_student(self, code: str, student: dict[str, Any], max_students: int) -> Added:
        room = self._room(code, touch=True)
        if room is None:
            return "gone"
        if student["id"] not in room.students and len(room.students) >= max_students:
            return "full"
        room.students[student["id"]] = student
        return "added"

    async def save_student(self, code: str, student: dict[str, Any], event: Event | None) -> bool:
        room = self._room(code, touch=True)
        if room is None or student["id"] not in room.students:
            return False
        room.students[student["id"]] = student
        if event is not None:
            await self.publish(code, event)
        return True

    async def set_state(self, code: str, name: StateField, value: dict[str, Any] | None, event: Event) -> bool:
        room = self._room(code, touch=True)
        if room is None:
            return False
        setattr(room.record, name, value)
        await self.publish(code, event)
        return True

    async def online(self, code: str, student_id: str, delta: int) -> int:
        room = self._room(code)
        if room is None:
            return 0
        count = max(0, room.online.get(student_id, 0) + delta)
        room.online[student_id] = count
        return count

    async def pin_try(self, code: str, window: int, undo: bool = False) -> tuple[int, int]:
        """Count a try of the teacher PIN (undo: take back one, that was right): the tries counted, and the seconds
        until the count starts again. The window starts at the first try, as Redis's INCR + EXPIRE NX has it."""
        room = self._room(code)
        if room is None:
            return 0, 0
        now = time.monotonic()
        room.pin_tries = [t for t in room.pin_tries if t > now]
        if undo:
            room.pin_tries = room.pin_tries[:-1]
        else:
            room.pin_tries.append(min(room.pin_tries, default=now + window))
        return len(room.pin_tries), round(max(room.pin_tries, default=now) - now)

    async def end(self, code: str, event: Event) -> bool:
        """Drop the class and publish `event`; False if it was gone already."""
        if self._room(code) is None:
            return False
        del self._rooms[code]
        await self.publish(code, event)
        return True

    async def publish(self, code: str, event: Event) -> None:
        if self.listener is not None:
            self.listener(code, event)

    async def count(self) -> int:
        await self.sweep()
        return len(self._rooms)

    async def sweep(self) -> None:
        now = time.monotonic()
        for code in [code for code, room in self._rooms.items() if room.expires <= now]:
            del self._rooms[code]

"""The sockets of this process, by class, and what each is waiting to receive.

Events arrive from the store (app.classroom.store: directly, or through Redis pub/sub) and go into the outbox of each
local socket they are meant for. An outbox is bounded, so a slow socket (a teacher's laptop on a weak network) cannot
make the server hold more and more for it: a student's tile updates replace that student's older one still waiting
(the wall only needs the latest), and other messages queue up to OUTBOX_MESSAGES, past which the socket is closed
(1013, try again later: its page reconnects and gets the whole state again).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from app.classroom.store import Event

Role = Literal["teacher", "student"]
OUTBOX_MESSAGES = 64
AUDIENCE = {"teacher": ("teachers", "all"), "student": ("students", "all")}


@dataclass(eq=False)
class Outbox:
    """Messages waiting for one socket: others in order, then the latest tile of each student."""

    queue: deque[dict[str, Any]] = field(default_factory=deque)
    tiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    overflowed: bool = False
    closing: bool = False  # "ended" was queued: the socket closes once it is sent

    def put(self, message: dict[str, Any]) -> None:
        if self.closing:
            return
        if message.get("type") == "tile":
            student_id = str(message["student"]["id"])
            self.tiles.pop(student_id, None)  # re-inserted last: tiles go out in the order they last changed
            self.tiles[student_id] = message
        elif len(self.queue) >= OUTBOX_MESSAGES:
            self.overflowed = True
        else:
            self.queue.append(message)
            self.closing = message.get("type") == "ended"
        self.ready.set()

    async def take(self) -> list[dict[str, Any]]:
        """Everything waiting, once there is something."""
        await self.ready.wait()
        self.ready.clear()
        messages = [*self.queue, *self.tiles.values()]
        self.queue.clear()
        self.tiles.clear()
        return messages


@dataclass(eq=False)
class Member:
    """One open socket of a class."""

    code: str
    role: Role
    student_id: str | None = None
    outbox: Outbox = field(default_factory=Outbox)


class Hub:
    def __init__(self) -> None:
        self.rooms: dict[str, set[Member]] = {}

    def add(self, member: Member) -> None:
        self.rooms.setdefault(member.code, set()).add(member)

    def remove(self, member: Member) -> None:
        room = self.rooms.get(member.code)
        if room is not None:
            room.discard(member)
            if not room:
                del self.rooms[member.code]

    def count(self, code: str, role: Role) -> int:
        return sum(1 for m in self.rooms.get(code, ()) if m.role == role)

    def dispatch(self, code: str, event: Event) -> None:
        """An event of a class, to each of its local sockets it is meant for."""
        to, message = event.get("to"), event.get("message")
        if not isinstance(message, dict):
            return
        for member in list(self.rooms.get(code, ())):
            if to in AUDIENCE[member.role]:
                member.outbox.put(message)


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))

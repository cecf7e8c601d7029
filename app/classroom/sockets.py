"""One class socket, a teacher's or a student's (the token says which), from its first message to its close.

Each socket has a reader (this module's `serve`) and a writer (`_write`), which alone sends, from the socket's outbox
(app.classroom.hub), so a slow socket holds at most its bounded outbox. Every message read is counted against the
socket's token bucket first: past it, a student's drawings (or a teacher's messages) are dropped, and the sender is
told `slow_down` once per SLOW_DOWN_SECONDS however many are dropped. A message that breaks a rule
(app.classroom.wire) or that the store cannot take right now (Redis away: code "overloaded") gets {"type": "error",
"code", "detail"} and the socket stays open.

Close codes: 4404 no such class, 4403 a token this class did not issue, 1013 too many sockets, or the socket fell
too far behind (reconnect later), 1000 after {"type": "ended"}.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from app.classroom import keys, wire
from app.classroom.bucket import TokenBucket
from app.classroom.errors import ClassNotFound, TooManySockets
from app.classroom.hub import Member, Role, encode
from app.classroom.service import ClassService, ended_event, lesson_message, pin_message, roster, tile_event, welcome
from app.classroom.store import ClassRecord
from app.errors import AppError

log = logging.getLogger("cnn_visualizer")
TEACHER_RATE, TEACHER_BURST = 5.0, 20
TEACHER_SOCKETS = 8  # per class and process: a teacher's laptop, the projector, a phone…
CLOSE_NOT_FOUND, CLOSE_BAD_TOKEN, CLOSE_TRY_LATER = 4404, 4403, 1013
CLOSE_SECONDS = 5.0  # the most an ending socket waits for its last messages to go out
SLOW_DOWN_SECONDS = 5.0


async def serve(ws: WebSocket, classes: ClassService, code: str, token: str | None) -> None:
    await ws.accept()
    try:
        record = await classes.find(code)
    except AppError as e:
        await _refuse(ws, e.code, e.message, CLOSE_NOT_FOUND if e.status_code == 404 else CLOSE_TRY_LATER)
        return
    holder = keys.token_holder(record.secret, token)
    if holder is None:
        await _refuse(ws, "invalid_token", "this link's key is not one this class gave out: join the class again",
                      CLOSE_BAD_TOKEN)
        return
    role, who = holder
    if role == "teacher":
        await _Teacher(ws, classes, record).run()
    else:
        await _Student(ws, classes, record, who).run()


async def _refuse(ws: WebSocket, code: str, detail: str, close: int) -> None:
    await ws.send_text(encode({"type": "error", "code": code, "detail": detail}))
    await ws.close(close)


class _Socket(ABC):
    role: Role

    def __init__(self, ws: WebSocket, classes: ClassService, record: ClassRecord, bucket: TokenBucket) -> None:
        self.ws, self.classes, self.store, self.record = ws, classes, classes.store, record
        self.bucket = bucket
        self.member = Member(record.code, self.role)
        self.told_slow = -SLOW_DOWN_SECONDS  # when the socket was last told to slow down (time.monotonic())

    def send(self, message: dict[str, Any]) -> None:
        self.member.outbox.put(message)

    def error(self, code: str, detail: str) -> None:
        self.send({"type": "error", "code": code, "detail": detail})

    async def run(self) -> None:
        self.classes.hub.add(self.member)  # before the state is read, so nothing published after it is missed
        writer: asyncio.Task[None] | None = None
        try:
            try:
                await self.opened()
            except AppError as e:  # the store out of reach, too many sockets…: said, then closed
                await _refuse(self.ws, e.code, e.message, CLOSE_NOT_FOUND if e.status_code == 404 else CLOSE_TRY_LATER)
                return
            writer = asyncio.create_task(self._write())
            await self._read()
            if self.member.outbox.closing:  # "ended" is queued: let the writer send it and close
                await asyncio.wait_for(asyncio.shield(writer), CLOSE_SECONDS)
        except (WebSocketDisconnect, RuntimeError, TimeoutError):  # RuntimeError: Starlette's, for a socket closed
            pass
        finally:
            self.classes.hub.remove(self.member)
            if writer is not None:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await writer
            try:
                await self.closed()
            except AppError:  # the store is away: done once it is back
                self.classes.retry_later(self.closed)

    @abstractmethod
    async def opened(self) -> None:
        """Queue the state the socket starts from; an AppError refuses the socket."""

    async def closed(self) -> None:
        return None

    @abstractmethod
    async def handle(self, message: dict[str, Any]) -> None:
        """One message of this role, checked (app.classroom.wire); a WireError is told to the socket."""

    async def _read(self) -> None:
        while not self.member.outbox.closing:
            frame = await self.ws.receive()
            if frame["type"] == "websocket.disconnect":
                return
            if not self.bucket.take():
                if time.monotonic() - self.told_slow >= SLOW_DOWN_SECONDS:
                    self.told_slow = time.monotonic()
                    self.error("slow_down", "too many messages: some were dropped; send fewer a second")
                continue
            try:
                message = wire.parse(frame.get("text") if "text" in frame else frame.get("bytes"))
                if message["type"] == "ping":
                    self.send({"type": "pong"})
                else:
                    await self.handle(message)
            except wire.WireError as e:
                self.error(e.code, e.detail)
            except AppError as e:  # the store out of reach (Redis), a class that ended meanwhile…
                self.error(e.code, e.message)
            except Exception:
                log.exception("unexpected error in a class socket")
                self.error("internal_error", "something went wrong on the server; it was logged")

    async def _write(self) -> None:
        outbox = self.member.outbox
        try:
            while True:
                for message in await outbox.take():
                    await self.ws.send_text(encode(message))
                    if message.get("type") == "ended":
                        await self.ws.close(1000)
                        return
                if outbox.overflowed:
                    await self.ws.close(CLOSE_TRY_LATER, "too far behind: reconnect")
                    return
        except (WebSocketDisconnect, RuntimeError, OSError):
            return  # closed under us; the reader sees it too


class _Teacher(_Socket):
    role: Role = "teacher"

    def __init__(self, ws: WebSocket, classes: ClassService, record: ClassRecord) -> None:
        super().__init__(ws, classes, record, TokenBucket(TEACHER_RATE, TEACHER_BURST))

    async def opened(self) -> None:
        if self.classes.hub.count(self.record.code, "teacher") > TEACHER_SOCKETS:
            raise TooManySockets(f"this class has {TEACHER_SOCKETS} teacher screens open already on this server")
        await self.store.touch(self.record.code)
        tiles = await self.store.tiles(self.record.code)
        self.send(roster(self.record, tiles))

    async def handle(self, message: dict[str, Any]) -> None:
        code, kind = self.record.code, message["type"]
        if kind == "pin":
            student = await self.store.student(code, wire.student_id(message))
            if student is None:
                raise wire.WireError("unknown_student", "there is no student with that id in this class")
            if not student["image"]:
                raise wire.WireError("no_drawing", f"{student['name']} has not drawn anything yet")
            pin = {"student": student["id"], "name": student["name"], "image": student["image"],
                   "prediction": student["prediction"]}
            changed = await self.store.set_state(code, "pin", pin, {"to": "all", "message": pin_message(pin)})
        elif kind == "unpin":
            changed = await self.store.set_state(code, "pin", None, {"to": "all", "message": pin_message(None)})
        elif kind == "lesson":
            lesson = wire.lesson(message)
            changed = await self.store.set_state(code, "lesson", lesson,
                                                 {"to": "all", "message": lesson_message(lesson)})
        elif kind == "end":
            changed = await self.store.end(code, ended_event("ended"))
        else:
            raise wire.WireError("unknown_type", f"unknown message type {kind!r}: a teacher sends pin, unpin, "
                                 "lesson, end or ping")
        if not changed:
            self.send(ended_event("expired")["message"])


class _Student(_Socket):
    role: Role = "student"

    def __init__(self, ws: WebSocket, classes: ClassService, record: ClassRecord, student_id: str) -> None:
        rate = classes.settings.class_drawings_per_second
        super().__init__(ws, classes, record, TokenBucket(rate, max(1.0, rate)))
        self.member.student_id = student_id
        self.student: dict[str, Any] | None = None
        self.counted = False  # this socket is counted in the student's sockets open (`online`)
        self.left: int | None = None  # the student's sockets still open once this one was taken off the count

    async def opened(self) -> None:
        code, sockets = self.record.code, 2 * self.classes.settings.class_max_students
        if self.classes.hub.count(code, "student") > sockets:
            raise TooManySockets("this class has as many student screens open as it may on this server")
        self.student = await self.store.student(code, str(self.member.student_id))
        if self.student is None:
            raise ClassNotFound()  # ended (or expired) since the class was read
        await self.store.touch(code)
        self.counted = True
        await self.store.online(code, self.student["id"], +1)
        await self.store.publish(code, tile_event(self.student, online=True))
        self.send(welcome(self.record, self.student, self.classes.limits))

    async def closed(self) -> None:
        """Off the count, and the teacher told if that was the student's last socket: each step once, however often
        this is tried again while Redis is away."""
        if self.counted and self.student is not None:
            self.left = await self.store.online(self.record.code, self.student["id"], -1)
            self.counted = False
        if self.left == 0 and self.student is not None:
            await self.store.publish(self.record.code, tile_event(self.student, online=False))
            self.left = None

    async def handle(self, message: dict[str, Any]) -> None:
        if message["type"] != "drawing":
            raise wire.WireError("unknown_type", f"unknown message type {message['type']!r}: a student sends drawing "
                                 "or ping")
        assert self.student is not None
        student = {**self.student, **wire.drawing(message), "updated": time.time()}
        if not await self.store.save_student(self.record.code, student, tile_event(student, online=True)):
            self.send(ended_event("expired")["message"])
            return
        self.student = student

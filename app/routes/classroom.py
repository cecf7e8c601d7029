"""Class mode (issue 15): a teacher starts a class, students join it with its code, and one socket per screen
carries the drawings to the teacher's wall and the teacher's pin and lesson card to every student.

    POST /api/class                  {"pin"?: "1234", "title"?: "Year 11 CS"} -> 201 {code, teacher_token,
                                     expires_in, limits, join_url}; 503 + Retry-After when the server holds the most
                                     classes it may
    POST /api/class/{code}/teacher   {"pin"} -> {teacher_token}; 403 wrong PIN, 404, 409 no PIN, 429 + Retry-After
    POST /api/class/{code}/join      {"name", "token"?} -> {student: {id, name}, token, class: {code, title, pin,
                                     lesson, expires_in}, last: null | {image, prediction, probabilities}, limits};
                                     404 unknown or expired, 409 full, 422 bad name, 429 too many joins at once
    GET  /class/{code}/teach         the teacher's page (templates/teacher.html)
    WS   /ws/class/{code}?token=…    one socket for both roles, JSON text frames of at most 8 KB

Server → teacher: {"type": "roster", "students": [tile…], "class": {…}} on connect, then {"type": "tile", "student":
tile} whenever a student joins, draws, or connects or leaves (its `online` flag); a tile is {id, name, image: base64
of 784 uint8 (28×28, white ink on black) | null, prediction: 0-9 | null, probabilities: [10] | null, online,
updated: unix time, joined: unix time}. No "left" message is sent: a student who goes keeps their tile (they come
back to it), shown offline by its `online` flag. A teacher also receives pin, unpin, lesson and ended as students do,
so two teacher screens agree. Teacher → server: {"type": "pin", "student": id}, {"type": "unpin"}, {"type": "lesson",
"id", "card"} ({"type": "lesson", "lesson": null} or "id": null clears it), {"type": "end"}.

Server → student: {"type": "welcome", student, class, last, limits} on connect, {"type": "pin", student, name, image,
prediction}, {"type": "unpin"}, {"type": "lesson", id, card} ({"type": "lesson", "id": null} when cleared),
{"type": "ended", reason: "ended" | "expired", detail}. Student → server: {"type": "drawing", image, prediction,
probabilities} (app.classroom.wire checks it).

Either role may send {"type": "ping"} and gets {"type": "pong"}; a message the server cannot take gets {"type":
"error", code, detail} (e.g. slow_down, too_large, invalid_drawing, overloaded when Redis is away) and the socket
stays open. Close codes: app.classroom.sockets. After a process's pub/sub listener lost Redis and got it back, its
sockets get a roster or a welcome again, as on connecting.

The token rides in the socket's query string, as browsers cannot set headers on a WebSocket: an access log that
records query strings records it too.
"""

from __future__ import annotations

import html
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, WebSocket
from fastapi.responses import HTMLResponse, Response

from app.classroom import sockets
from app.classroom.schemas import (
    CreateClassRequest,
    CreateClassResponse,
    JoinRequest,
    JoinResponse,
    TeacherRequest,
    TeacherTokenResponse,
)
from app.classroom.service import ClassService
from app.errors import AppError
from app.paths import TEMPLATES
from app.schemas import ErrorResponse
from app.services.container import Services

router = APIRouter()
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": words} for status, words in [
        (400, "The body is not JSON."),
        (403, "A wrong teacher PIN."),
        (404, "No class with this code: it ended or expired, or a character is wrong."),
        (409, "The class is full, or was started without a PIN."),
        (413, "The request body is larger than allowed."),
        (422, "A value is out of range: a PIN that is not 4 to 8 digits, a name or title too long or with control "
              "characters."),
        (429, "Too many wrong PINs, joins at once, or codes that do not exist: try again after Retry-After."),
        (503, "The server holds as many classes as it may, or cannot reach its class store: try again after "
              "Retry-After."),
    ]
}


async def class_service(request: Request) -> ClassService:
    svc: Services = request.app.state.services
    return svc.classes


ClassesDep = Annotated[ClassService, Depends(class_service)]


@router.post("/api/class", status_code=201, response_model=CreateClassResponse, responses=ERRORS, tags=["class"],
             summary="Start a class")
async def create_class(body: CreateClassRequest, classes: ClassesDep) -> CreateClassResponse:
    return await classes.create(body)


@router.post("/api/class/{code}/teacher", response_model=TeacherTokenResponse, responses=ERRORS, tags=["class"],
             summary="Open the teacher screen on another device, with the class's PIN")
async def teacher_token(code: str, body: TeacherRequest, classes: ClassesDep) -> TeacherTokenResponse:
    return await classes.reopen(code, body.pin)


@router.post("/api/class/{code}/join", response_model=JoinResponse, responses=ERRORS, tags=["class"],
             summary="Join a class as a student, or come back to it")
async def join_class(code: str, body: JoinRequest, classes: ClassesDep) -> JoinResponse:
    return await classes.join(code, body)


@router.get("/class/{code}/teach", response_class=HTMLResponse, include_in_schema=False)
async def teach(request: Request, code: str, classes: ClassesDep) -> Response:
    try:
        record = await classes.find(code)
    except AppError as e:
        page = (f"<!doctype html><title>Class mode</title><p>{html.escape(e.message)}.</p>"
                "<p><a href=\"/\">Back to the page</a></p>")
        return HTMLResponse(page, status_code=e.status_code, headers=e.headers)
    return TEMPLATES.TemplateResponse(request, "teacher.html", {"code": record.code, "title": record.title,
                                                                "limits": classes.limits.model_dump()})


@router.websocket("/ws/class/{code}")
async def class_socket(websocket: WebSocket, code: str) -> None:
    svc: Services = websocket.app.state.services
    await sockets.serve(websocket, svc.classes, code, websocket.query_params.get("token"))

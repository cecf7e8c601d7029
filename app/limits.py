"""Every request body bounded while it is read: a pure ASGI middleware, outermost, so no route ever buffers more.

    app.add_middleware(BodyLimitMiddleware, default=BodyLimit(16384), routes={"/api/forward": BodyLimit(...)})

A Content-Length over the limit is answered 413 before the app runs; a body without one (chunked) is counted as it
arrives and refused as soon as it passes the limit, so at most one chunk past the limit is ever held. The answer is
the server's error shape, {"detail": "The request body is ...; the limit is ...", "code": "too_large"}, whatever the
app was doing with the body when the limit was crossed: FastAPI turns an error raised while it reads a JSON body
into a 400, so the middleware answers for it rather than trusting the exception to arrive.

Why not FastAPI's own `max_body_size`: it answers a plain-text "Content Too Large" (not our shape, no sizes) when the
route does not read the body, and a private exception class otherwise.

A client that closes the connection mid-body (an aborted upload) gets one log line and no answer: there is no one to
read it, and a traceback would only say that a socket closed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import TooLarge
from app.services.images import image_too_large
from app.services.models import model_too_large

log = logging.getLogger("cnn_visualizer")

# Room for what wraps an image: multipart headers and boundaries, or the JSON around a data URL.
ENVELOPE_BYTES = 64 * 1024


def request_body_too_large(size: int, limit: int, at_least: bool) -> TooLarge:
    return TooLarge("The request body", size, limit, at_least=at_least,
                    advice="This route takes a few numbers as JSON; the server's CNN_MAX_JSON_BYTES sets the limit.")


@dataclass(frozen=True)
class BodyLimit:
    """The most bytes a route's body may hold, and the error that says so (given the size seen and the limit)."""

    max_bytes: int
    refuse: Callable[[int, int, bool], TooLarge] = field(default=request_body_too_large)


def forward_body_bytes(max_upload_bytes: int) -> int:
    """The largest body POST /api/forward can need: an image of the largest size as a base64 data URL (4/3 of it)
    in its JSON, which is more than the same image as a multipart upload."""
    return max_upload_bytes * 4 // 3 + ENVELOPE_BYTES


def forward_limit(max_upload_bytes: int) -> BodyLimit:
    """POST /api/forward's limit, whose message names the image limit people set (CNN_MAX_UPLOAD_BYTES)."""
    return BodyLimit(forward_body_bytes(max_upload_bytes),
                     lambda size, _limit, at_least: image_too_large(size, max_upload_bytes, at_least))


def model_limit(max_model_bytes: int) -> BodyLimit:
    """POST /api/model's limit: the model file as a multipart upload, whose message names CNN_MAX_MODEL_BYTES."""
    return BodyLimit(max_model_bytes + ENVELOPE_BYTES,
                     lambda size, _limit, at_least: model_too_large(size, max_model_bytes, at_least))


class BodyLimitMiddleware:
    """Refuses any HTTP request body over its route's BodyLimit (`routes`, by exact path) or `default`."""

    def __init__(self, app: ASGIApp, default: BodyLimit, routes: Mapping[str, BodyLimit] | None = None) -> None:
        self.app, self.default, self.routes = app, default, dict(routes or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.routes.get(scope["path"], self.default)
        declared = _content_length(scope)
        if declared is not None and declared > limit.max_bytes:
            await _answer(limit.refuse(declared, limit.max_bytes, False), scope, receive, send)
            return

        received = 0
        body_done = False
        refused: TooLarge | None = None
        aborted = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, body_done, refused, aborted
            if refused is not None:
                raise refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if received > limit.max_bytes:
                    refused = limit.refuse(received, limit.max_bytes, not body_done)
                    raise refused
            elif message["type"] == "http.disconnect" and not body_done:
                aborted = True
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if aborted or (refused is not None and not started):
                return  # no one to answer, or the 413 below answers instead of whatever the app made of the error
            started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except ClientDisconnect:
            aborted = True
        except TooLarge as e:
            if e is not refused:
                raise
        if aborted:
            log.info("%s %s: the client closed the connection after sending %s bytes of the body; nothing was "
                     "answered", scope["method"], scope["path"], f"{received:,}")
        elif refused is not None and not started:
            await _answer(refused, scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _answer(error: TooLarge, scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse({"detail": error.message, "code": error.code}, status_code=error.status_code)
    await response(scope, receive, send)

"""What the REST routes need, as Annotated dependencies: the services, the caller's session (opened, locked and saved
around the route) and a new input read from the request body (an uploaded image, a data URL, or the page's own
preprocessed input)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request, Response
from pydantic import ValidationError

from app.errors import InvalidRequest, MissingFile, Overloaded, UnsupportedMediaType
from app.limits import ENVELOPE_BYTES
from app.schemas import ForwardRequest
from app.services.container import Services
from app.services.images import decode_data_url, image_too_large
from app.services.network import ForwardInput, NetworkService
from app.services.sessions import SessionsFull, SessionState, is_valid_session_id

TAB_HEADER = "X-Tab-Id"


async def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


ServicesDep = Annotated[Services, Depends(services)]


async def network(svc: ServicesDep) -> NetworkService:
    return svc.network


NetworkDep = Annotated[NetworkService, Depends(network)]


def session_key(cookie: str | None, tab: str | None) -> str | None:
    """A browser is named by its cookie; each of its tabs by the X-Tab-Id header (or ?tab=), so that two tabs of one
    browser, which share the cookie, still work on their own copies of the model."""
    if not is_valid_session_id(cookie) or cookie is None or ":" in cookie:
        return None
    if tab and is_valid_session_id(tab) and ":" not in tab:
        return f"{cookie}:{tab}"
    return cookie


async def resolve_cookie(request: Request, response: Response, svc: Services) -> tuple[str, bool]:
    """The browser's session cookie and whether the server issued it; a missing or made-up one is replaced by a new
    one, never adopted. Every answer sets it again, so it lives as long as an idle session does, counted from the
    last request (Max-Age), and it is Secure when the page came over HTTPS (behind a proxy: CNN_TRUST_PROXY_HEADERS)."""
    cookie = request.cookies.get(svc.settings.cookie_name)
    issued = svc.ids.verify(cookie) and cookie is not None
    if not issued or cookie is None:
        cookie = svc.ids.issue()
        # The browser's own session, empty (a few KB), so that a tab of it that finds no session later is told the
        # session expired, while a tab of a browser just arrived is told to send its first input. Skipped when full,
        # or when the store is unreachable (the page still loads, and its first request is told to try again).
        with contextlib.suppress(SessionsFull, Overloaded):
            await svc.store_call(svc.store.reserve)
            await svc.store_call(svc.store.put, svc.network.new_session(cookie))
    response.set_cookie(svc.settings.cookie_name, cookie, httponly=True, samesite="strict",
                        max_age=svc.settings.session_idle_seconds, secure=request.url.scheme == "https")
    return cookie, issued


async def session_state(request: Request, response: Response, svc: ServicesDep) -> AsyncIterator[SessionState]:
    """The caller's session for the time of the route: locked, and saved back when the route returns. A signed
    cookie whose session is gone gets a new session marked lost, so a pass that needs the input says session_expired."""
    cookie, issued = await resolve_cookie(request, response, svc)
    key = session_key(cookie, request.headers.get(TAB_HEADER) or request.query_params.get("tab"))
    assert key is not None
    async with svc.session(key, lost_if_new=issued) as state:
        yield state


# scope="function": the session is saved and its lock released when the route returns, before the answer is sent.
SessionDep = Annotated[SessionState, Depends(session_state, scope="function")]


async def _read_limited(request: Request, limit: int, image_limit: int) -> bytes:
    """The raw body, refusing more than `limit` bytes without reading them all (Content-Length may be absent).

    `limit` leaves room for the envelope (multipart headers, base64); the message names the image limit people set.
    """
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise image_too_large(int(declared), image_limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise image_too_large(len(body), image_limit, at_least=True)
    # Cache it where Starlette's own body() does, so that request.form() can still parse what was read here.
    request._body = bytes(body)
    return request._body


async def new_input(request: Request, svc: ServicesDep, state: SessionDep) -> ForwardInput:
    """The input of POST /api/forward: a multipart upload (field `file`), or JSON {"image": "<data URL>"}, which the
    server preprocesses for the session's model; or JSON {"input": <array>}, preprocessed by the sender (checked by
    the forward, against the session's model)."""
    limits = svc.image_limits
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        await _read_limited(request, limits.max_bytes + ENVELOPE_BYTES, limits.max_bytes)
        form = await request.form(max_files=1, max_fields=4)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise MissingFile("the upload has no file: send the image in a form field named 'file'")
        data = await upload.read()
    elif content_type == "application/json":
        body = await _read_limited(request, limits.max_bytes * 4 // 3 + ENVELOPE_BYTES, limits.max_bytes)
        try:
            parsed = ForwardRequest.model_validate_json(body)
        except ValidationError as e:
            raise InvalidRequest('the JSON body must be {"image": "data:image/png;base64,..."} or {"input": '
                                 f'{{"shape": [28, 28], "dtype": "float32", "data": "<base64>"}}}}: {_first_error(e)}'
                                 ) from None
        if (parsed.image is None) == (parsed.input is None):
            raise InvalidRequest('the JSON body must hold either "image", a data URL like "data:image/png;base64,...", '
                                 'or "input", an array: one of them, not both')
        if parsed.input is not None:
            return ForwardInput(parsed.input, steps=None)
        data = decode_data_url(parsed.image or "", limits)
    else:
        raise UnsupportedMediaType(f"content type {content_type or 'missing'!r} is not accepted: send "
                                   "multipart/form-data with a 'file' field, or JSON {\"image\": \"<data URL>\"}")
    return await svc.gate.run(svc.network.preprocess, state, data, limits)  # bounded, as gradcheck and export are


def _first_error(e: ValidationError) -> str:
    first = e.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"{where}: {first['msg']}" if where else str(first["msg"])


NewInputDep = Annotated[ForwardInput, Depends(new_input)]

"""What every API route needs: the app's services, the caller's session, and a lock that keeps one session's
requests in order."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fastapi import Request, Response

from app.config import Settings
from app.errors import AppError
from app.services.images import ImageLimits
from app.services.network import NetworkService
from app.services.sessions import SessionState, SessionStore, is_valid_session_id, new_session_id

TAB_HEADER = "X-Tab-Id"


@dataclass
class Services:
    settings: Settings
    network: NetworkService
    store: SessionStore
    # Striped locks: a bounded set, whatever the number of sessions. Two requests of one session never interleave.
    locks: tuple[threading.Lock, ...] = tuple(threading.Lock() for _ in range(64))

    def lock_for(self, key: str) -> threading.Lock:
        return self.locks[hash(key) % len(self.locks)]

    @property
    def image_limits(self) -> ImageLimits:
        return ImageLimits(max_bytes=self.settings.max_upload_bytes, max_pixels=self.settings.max_image_pixels)

    def check_learning_rate(self, lr: float) -> None:
        """The ceiling from the settings, for REST and WebSocket steps alike."""
        if lr > self.settings.max_learning_rate:
            raise AppError(f"learning rate {lr:g} is above the limit of {self.settings.max_learning_rate:g}",
                           code="invalid_request", status_code=422)


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def session_key(cookie: str | None, tab: str | None) -> str | None:
    """A browser is named by its cookie; each of its tabs by the X-Tab-Id header (or ?tab=), so that two tabs of one
    browser, which share the cookie, still work on their own copies of the model."""
    if not is_valid_session_id(cookie):
        return None
    if tab and is_valid_session_id(tab) and ":" not in tab:
        return f"{cookie}:{tab}"
    return cookie


def resolve_cookie(request: Request, response: Response | None, cookie_name: str) -> str:
    cookie = request.cookies.get(cookie_name)
    if is_valid_session_id(cookie) and cookie is not None and ":" not in cookie:
        return cookie
    cookie = new_session_id()
    if response is not None:
        response.set_cookie(cookie_name, cookie, httponly=True, samesite="strict", max_age=7 * 24 * 3600)
    return cookie


@contextmanager
def open_session(svc: Services, key: str) -> Iterator[SessionState]:
    """The session under its lock, created from the pretrained weights if new or expired, saved back afterwards."""
    with svc.lock_for(key):
        state = svc.store.get(key)
        if state is None:
            state = svc.network.new_session(key)
        try:
            yield state
        finally:
            svc.store.put(state)


def request_session_key(request: Request, response: Response) -> str:
    svc = services(request)
    cookie = resolve_cookie(request, response, svc.settings.cookie_name)
    tab = request.headers.get(TAB_HEADER) or request.query_params.get("tab")
    key = session_key(cookie, tab)
    assert key is not None
    return key

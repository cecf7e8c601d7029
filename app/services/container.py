"""The services one running server holds, made once at start-up: settings, the network, the session store, and the
locks that keep one session's requests in order. REST routes reach them through app.routes.deps, the WebSocket
through the app's state; both open sessions with `Services.session`, the one place a session is read and written."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from app.config import Settings
from app.services.images import ImageLimits
from app.services.network import NetworkService
from app.services.sessions import InMemorySessionStore, SessionState, SessionStore

LOCK_STRIPES = 64


@dataclass
class Services:
    settings: Settings
    network: NetworkService
    store: SessionStore
    # Striped locks: a bounded set, whatever the number of sessions. Two requests of one session never interleave;
    # asyncio locks, because the event loop waits on them while the pass runs on a worker thread.
    locks: tuple[asyncio.Lock, ...] = field(default_factory=lambda: tuple(asyncio.Lock() for _ in range(LOCK_STRIPES)))

    @classmethod
    def start(cls, settings: Settings) -> Services:
        network = NetworkService(settings.model_path, settings.max_learning_rate, settings.warm_passes)
        return cls(settings, network, InMemorySessionStore(settings.max_sessions, settings.session_idle_seconds))

    @property
    def image_limits(self) -> ImageLimits:
        return ImageLimits(max_bytes=self.settings.max_upload_bytes, max_pixels=self.settings.max_image_pixels)

    @asynccontextmanager
    async def session(self, key: str) -> AsyncIterator[SessionState]:
        """The session under its lock, made from the pretrained weights if new or expired, saved back afterwards."""
        async with self.locks[hash(key) % len(self.locks)]:
            state = self.store.get(key)
            if state is None:
                state = self.network.new_session(key)
            try:
                yield state
            finally:
                self.store.put(state)

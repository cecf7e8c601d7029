"""The services one running server holds, made once at start-up: settings, the network, the session store, the
locks that keep one session's requests in order, and the gate that bounds expensive work (app.services.gate). REST
routes reach them through app.routes.deps, the WebSocket through the app's state; both open sessions with
`Services.session`, the one place a session is read and written."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

from app.classroom.service import ClassService
from app.config import Settings
from app.errors import Busy, Overloaded
from app.services.gate import Gate
from app.services.images import ImageLimits
from app.services.network import NetworkService
from app.services.redis_store import RedisSessionStore
from app.services.sessions import InMemorySessionStore, SessionIds, SessionsFull, SessionState, SessionStore

P = ParamSpec("P")
T = TypeVar("T")

# A session's requests run one at a time; one more may wait, and a further one is refused (429) rather than queued.
WAITING_PER_SESSION = 1


@dataclass
class _InFlight:
    """A session's lock and how many of its requests hold it or wait for it; dropped when none does."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    requests: int = 0


@dataclass
class Services:
    settings: Settings
    network: NetworkService
    store: SessionStore
    gate: Gate
    ids: SessionIds  # issues and checks the session cookies
    classes: ClassService  # class mode: its classes beside the sessions (memory or the same Redis), started async
    # A lock per session with a request in flight (never more entries than requests in flight): two requests of one
    # session never interleave, and a learner never waits behind another session's gradcheck, as locks shared by
    # stripes of sessions made it do. asyncio locks: the event loop waits on them while a job runs on a thread.
    in_flight: dict[str, _InFlight] = field(default_factory=dict)

    @classmethod
    def start(cls, settings: Settings) -> Services:
        network = NetworkService(settings.model_path, settings.max_learning_rate, settings.warm_passes)
        store: SessionStore
        if settings.session_store == "memory":
            store = InMemorySessionStore(settings.session_memory_mb * 2**20, settings.session_idle_seconds,
                                         settings.session_evictable_seconds)
        else:  # a Redis URL (checked by Settings); SessionStoreUnreachable if nothing answers there
            store = RedisSessionStore(settings.session_store, settings.session_idle_seconds, network.initial_params)
        # Every process serving one learner must check the others' cookies: with Redis they share one key kept
        # there unless CNN_SESSION_SECRET names one; a lone in-memory process needs none beyond its own lifetime.
        secret = settings.session_secret or (store.shared_secret() if isinstance(store, RedisSessionStore)
                                             else secrets.token_urlsafe(32))
        return cls(settings, network, store, Gate(settings.engine_workers, settings.engine_queue), SessionIds(secret),
                   ClassService(settings))

    def close(self) -> None:
        """Let go of what the services hold outside the process: the Redis store's connections."""
        if isinstance(self.store, RedisSessionStore):
            self.store.close()

    @property
    def image_limits(self) -> ImageLimits:
        return ImageLimits(max_bytes=self.settings.max_upload_bytes, max_pixels=self.settings.max_image_pixels)

    async def store_call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """A call of the store's: on a worker thread if it waits on the network (Redis), so that a slow store never
        stalls the event loop; inline otherwise (the in-memory store's calls take microseconds)."""
        if self.store.remote:
            return await asyncio.to_thread(fn, *args, **kwargs)
        return fn(*args, **kwargs)

    @asynccontextmanager
    async def session(self, key: str, lost_if_new: bool = False) -> AsyncIterator[SessionState]:
        """The session under its lock, made from the pretrained weights if new or expired, saved back afterwards.
        Busy (429) if the session already has a request running and WAITING_PER_SESSION more waiting; Overloaded
        (503) if it is new and the sessions in use fill the memory budget. `lost_if_new`: the browser had a session
        under this key (its cookie is one the server signed), so a new one replaces a lost one."""
        slot = self.in_flight.setdefault(key, _InFlight())
        if slot.requests > WAITING_PER_SESSION:
            raise Busy()
        slot.requests += 1
        try:
            async with slot.lock, self.store.lock(key):
                state = await self.store_call(self.store.get, key)
                if state is None:
                    try:
                        await self.store_call(self.store.reserve)
                    except SessionsFull as e:
                        raise Overloaded(f"the server is full: {e}; try again in a minute", retry_after=60) from None
                    state = self.network.new_session(key)
                    # Lost, rather than new, when none of the browser's tabs has a session left either.
                    state.lost = lost_if_new and not await self.store_call(self.store.knows_browser, key)
                try:
                    yield state
                finally:
                    await self.store_call(self.store.put, state)
        finally:
            slot.requests -= 1
            if slot.requests == 0:
                del self.in_flight[key]

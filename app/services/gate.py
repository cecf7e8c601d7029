"""One bounded gate for the server's expensive work: gradient checks, exports and the decoding of uploaded images.

At most `workers` jobs run at once, each on a worker thread, and at most `queue` wait for one; a job beyond that is
refused at once with Overloaded (503, Retry-After) instead of joining a wait that grows with the flood. Passes of one
image do not come here: they take under a millisecond and run on the event loop (app.routes.api).

Why bounded: unbounded, 40 clients looping on gradcheck kept 40 threads wanting the GIL, and each time the event loop
gave it up (to read a socket) it waited behind them: a learner's cycle p95 went from 25 ms to 0.2-3 s, /healthz's max
to 0.75 s (benchmarks/flood.py). Why one worker by default: a gradcheck is hundreds of small numpy calls that hold the
GIL, so a second thread adds contention, not speed (measured: fewer checks served, and slower passes beside them).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread

from app.errors import Overloaded

T = TypeVar("T")


class Gate:
    """At most `workers` jobs running and `queue` waiting; counts what it served and refused (for benchmarks)."""

    def __init__(self, workers: int, queue: int) -> None:
        self.workers, self.queue = workers, queue
        self.admitted = 0  # running + waiting
        self.served = self.refused = 0
        self._mean_seconds = 0.05  # a running mean of a job's time, for Retry-After
        self._limiter: anyio.CapacityLimiter | None = None  # made on first use: it needs the running event loop

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """fn(*args) on a worker thread once the gate has room for it, or Overloaded when even the queue is full."""
        if self.admitted >= self.workers + self.queue:
            self.refused += 1
            raise Overloaded(f"the server is busy with other learners' checks, exports and uploads ({self.workers} "
                             f"running, {self.queue} waiting, the most it takes); try again in a moment",
                             retry_after=self.retry_after())
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.workers)  # waiting jobs are let in first come, first served

        def timed() -> T:
            start = time.perf_counter()
            try:
                return fn(*args)
            finally:
                self._mean_seconds += 0.1 * (time.perf_counter() - start - self._mean_seconds)

        self.admitted += 1
        try:
            result = await anyio.to_thread.run_sync(timed, limiter=self._limiter)
        finally:
            self.admitted -= 1
        self.served += 1
        return result

    def retry_after(self) -> int:
        """Whole seconds until the jobs now admitted have likely run: at least 1."""
        return max(1, math.ceil(self._mean_seconds * self.admitted / self.workers))

"""Warm passes: models whose layers still hold a session's last forward (and backward), so that the next request of
that session starts from there instead of running forward again.

A session's numbers (weights, input, target) live in the session store; a warm pass is only a cache of work done on
them, valid while the session's `version` is the one it was computed for. The cache holds at most `capacity` of them,
least recently used out first; a model leaving the cache is kept as a spare for the next session that needs one, so
passes do not allocate a network each time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from cnn import Sequential

SPARES = 8  # models kept for reuse beyond the warm ones: about the number of passes running at once


@dataclass
class WarmPass:
    """A model and what its layers hold: the forward of session version `version` (-1: nothing yet), whose output is
    `logits`, and the backward of (target, loss name) `backward` whose loss was `loss`."""

    model: Sequential
    version: int = -1
    logits: np.ndarray | None = None
    backward: tuple[int, str] | None = None
    loss: float = float("nan")

    def forget(self) -> None:
        self.version, self.logits, self.backward = -1, None, None


class WarmPasses:
    """At most `capacity` warm passes by session id. `take` lends a session its pass (or a fresh one) for the time of
    one request; `give_back` returns it. A pass that is out cannot be evicted or lent to anyone else."""

    def __init__(self, capacity: int, make_model: Callable[[], Sequential]) -> None:
        self.capacity = capacity
        self._make_model = make_model
        self._warm: OrderedDict[str, WarmPass] = OrderedDict()
        self._spares: list[Sequential] = []
        self._lock = threading.Lock()

    def take(self, session_id: str) -> WarmPass:
        with self._lock:
            held = self._warm.pop(session_id, None)
            if held is not None:
                return held
            spare = self._spares.pop() if self._spares else None
        return WarmPass(spare if spare is not None else self._make_model())

    def give_back(self, session_id: str, held: WarmPass) -> None:
        with self._lock:
            if held.version >= 0 and self.capacity:
                self._warm[session_id] = held
                while len(self._warm) > self.capacity:
                    self._spare(self._warm.popitem(last=False)[1].model)
            else:
                self._spare(held.model)

    @contextmanager
    def scratch(self) -> Iterator[Sequential]:
        """A model no session holds, for work that must leave every warm pass alone (finite differences)."""
        with self._lock:
            model = self._spares.pop() if self._spares else None
        model = model if model is not None else self._make_model()
        try:
            yield model
        finally:
            with self._lock:
                self._spare(model)

    def _spare(self, model: Sequential) -> None:
        if len(self._spares) < SPARES:
            self._spares.append(model)

"""A token bucket: `rate` events a second on average, bursts of `burst`; what bounds each socket's messages and the
joins of a class."""

from __future__ import annotations

import time


class TokenBucket:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self) -> bool:
        """True if an event may pass now (and counts it); False if it is over the rate."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def wait_seconds(self) -> float:
        """How long until one more event would pass."""
        return max(0.0, (1 - self.tokens) / self.rate)

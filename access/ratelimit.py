"""A token bucket: `rate` tokens a second, at most `burst` saved up."""

from __future__ import annotations

import time


class TokenBucket:
    __slots__ = ("burst", "rate", "_tokens", "_at")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._at = time.monotonic()

    def take(self, now: float | None = None) -> float:
        """Spend a token: 0 when there was one, else the seconds until there will be."""
        now = time.monotonic() if now is None else now
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate

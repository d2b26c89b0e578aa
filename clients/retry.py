"""Retry policy shared by every client: only Unavailable is retried, with capped exponential backoff."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from finfer.clients.errors import Unavailable

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    backoff_s: float = 0.1
    max_backoff_s: float = 2.0

    def delay(self, attempt: int) -> float:
        return min(self.max_backoff_s, self.backoff_s * 2**attempt)

    def run(self, call: Callable[[], T]) -> T:
        """`call()` until it returns or raises anything but Unavailable; the last attempt's error propagates."""
        for attempt in range(self.attempts - 1):
            try:
                return call()
            except Unavailable:
                time.sleep(self.delay(attempt))
        return call()

    async def run_async(self, call: Callable[[], Awaitable[T]]) -> T:
        for attempt in range(self.attempts - 1):
            try:
                return await call()
            except Unavailable:
                await asyncio.sleep(self.delay(attempt))
        return await call()

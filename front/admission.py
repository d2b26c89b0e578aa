"""Admission control: how many heavy requests (a page, a photo, an application carrying them) this front lets
into Triton at once, per pipeline, with a short bounded queue behind; past both, 503 with Retry-After.

A page costs 0.3–0.9 CPU-seconds. On a small node a burst of pages takes every core, and requests that need a
millisecond of model (risk, fraud, intent) wait behind them in the operating system's scheduler, where neither
Triton nor the front can see them. Triton's heavy stubs run at a lower CPU priority (runtime/cpu_priority.py);
this bound keeps the heavy work queued in Triton short, so that a burst is refused early with a clear answer
instead of every heavy request timing out later.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from finfer.errors import Overloaded
from finfer.front import metrics
from finfer.pipelines.declaration import AdmissionBound


class Gate:
    """One pipeline's bound: at most `bound.in_flight` requests past it, `bound.queue` waiting in order, each
    for at most `bound.wait_s`."""

    def __init__(self, pipeline: str, bound: AdmissionBound, retry_after_s: int) -> None:
        self.pipeline = pipeline
        self.bound = bound
        self.retry_after_s = retry_after_s
        self.in_flight = 0
        self.waiting: deque[asyncio.Future[None]] = deque()
        self._publish()
        metrics.ADMISSION_LIMIT.labels(pipeline).set(bound.in_flight)
        metrics.ADMISSION_REFUSED.labels(pipeline, "queue_full")
        metrics.ADMISSION_REFUSED.labels(pipeline, "wait")

    def _publish(self) -> None:
        metrics.ADMISSION_IN_FLIGHT.labels(self.pipeline).set(self.in_flight)
        metrics.ADMISSION_QUEUED.labels(self.pipeline).set(len(self.waiting))

    def _refuse(self, reason: str, why: str) -> Overloaded:
        metrics.ADMISSION_REFUSED.labels(self.pipeline, reason).inc()
        message = (
            f"{self.pipeline}: {why}; this front runs {self.bound.in_flight} such requests at once "
            f"(FINFER_ADMISSION); retry shortly"
        )
        return Overloaded(message, retry_after_s=self.retry_after_s)

    @asynccontextmanager
    async def admitted(self) -> AsyncIterator[None]:
        """Hold one of the bound's places while the block runs; Overloaded when none comes in time."""
        await self._enter()
        try:
            yield
        finally:
            self._leave()

    async def _enter(self) -> None:
        if self.in_flight < self.bound.in_flight and not self.waiting:
            self.in_flight += 1
            self._publish()
            return
        if len(self.waiting) >= self.bound.queue:
            why = f"{self.in_flight} heavy requests in flight and {self.bound.queue} waiting"
            raise self._refuse("queue_full", why)
        place: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append(place)
        self._publish()
        try:
            async with asyncio.timeout(self.bound.wait_s):
                await place
        except (TimeoutError, asyncio.CancelledError) as error:
            if place.done() and not place.cancelled():
                self._leave()  # handed a place in the same instant: hand it on
            if isinstance(error, asyncio.CancelledError):
                raise
            raise self._refuse("wait", f"no place freed within {self.bound.wait_s:g} s") from None
        finally:
            if place in self.waiting:
                self.waiting.remove(place)
            self._publish()

    def _leave(self) -> None:
        # The place passes straight to the first live waiter, so a newcomer cannot overtake the queue.
        while self.waiting:
            place = self.waiting.popleft()
            if not place.done():
                place.set_result(None)
                self._publish()
                return
        self.in_flight -= 1
        self._publish()

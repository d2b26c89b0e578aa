"""Coalesce concurrent cache misses into one Triton request.

No timer: a call goes out at once when a slot is free; while calls are in flight, new rows
wait and leave together in the next one. Idle traffic sees no added delay, busy traffic pays
one RPC and one ensemble pass per batch instead of per request. A merged call that the model refuses
(one request's corrupt photo, say) is sent again a request at a time, so that only the bad one fails.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from finfer.errors import InvalidArgument

Row = TypeVar("Row")
Result = TypeVar("Result")


class Coalescer(Generic[Row, Result]):
    def __init__(
        self,
        call: Callable[[list[Row]], Awaitable[list[Result]]],
        max_rows: int,
        max_inflight: int,
    ) -> None:
        self._call = call
        self.max_rows = max_rows
        self.max_inflight = max_inflight
        self._pending: deque[tuple[Sequence[Row], asyncio.Future[list[Result]]]] = deque()
        self._inflight = 0
        self._scheduled = False

    async def submit(self, rows: Sequence[Row]) -> list[Result]:
        """Results for `rows`, in order; `rows` longer than max_rows are sent in several calls."""
        if len(rows) > self.max_rows:
            parts = [rows[i : i + self.max_rows] for i in range(0, len(rows), self.max_rows)]
            answers = await asyncio.gather(*(self.submit(p) for p in parts))
            return [r for answer in answers for r in answer]
        future: asyncio.Future[list[Result]] = asyncio.get_running_loop().create_future()
        self._pending.append((rows, future))
        if not self._scheduled:
            # Let the other requests already read in this loop turn join the call.
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._dispatch)
        return await future

    def _dispatch(self) -> None:
        self._scheduled = False
        while self._pending and self._inflight < self.max_inflight:
            batch: list[tuple[Sequence[Row], asyncio.Future[list[Result]]]] = []
            size = 0
            while self._pending and size + len(self._pending[0][0]) <= self.max_rows:
                item = self._pending.popleft()
                batch.append(item)
                size += len(item[0])
            self._inflight += 1
            asyncio.get_running_loop().create_task(self._run(batch))

    async def _run(self, batch: list[tuple[Sequence[Row], asyncio.Future[list[Result]]]]) -> None:
        try:
            rows = [row for part, _ in batch for row in part]
            try:
                results = await self._call(rows)
                if len(results) != len(rows):
                    raise ValueError(f"upstream answered {len(results)} rows for {len(rows)}")
            except InvalidArgument as exc:
                if len(batch) > 1:
                    await self._alone(batch)
                else:
                    _fail(batch, exc)
                return
            except BaseException as exc:  # every waiter must hear about the failure, then it propagates
                _fail(batch, exc)
                if not isinstance(exc, Exception):
                    raise
                return
            start = 0
            for part, future in batch:
                if not future.done():
                    future.set_result(results[start : start + len(part)])
                start += len(part)
        finally:
            self._inflight -= 1
            self._dispatch()

    async def _alone(self, batch: list[tuple[Sequence[Row], asyncio.Future[list[Result]]]]) -> None:
        """Each request of a refused merged call on its own: its results, or its own error."""
        answers = await asyncio.gather(*(self._call(list(part)) for part, _ in batch), return_exceptions=True)
        for (part, future), answer in zip(batch, answers, strict=True):
            if future.done():
                continue
            if isinstance(answer, BaseException):
                future.set_exception(answer)
            elif len(answer) != len(part):
                future.set_exception(ValueError(f"upstream answered {len(answer)} rows for {len(part)}"))
            else:
                future.set_result(answer)


def _fail(batch: Sequence[tuple[object, asyncio.Future]], exc: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)

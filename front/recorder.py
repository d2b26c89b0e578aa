"""The front's recorder: every application decision reaches the database, or the spool while it is away,
before the answer goes out.

Records arriving together are written in one transaction (one commit for many answers) by one thread, so
recording costs the application path one commit at most however many clients there are. A database that
fails sends records to the spool; the spool is drained, in order, once the database answers again; records
keep arriving in the spool meanwhile, so the chain's order is the order of the decisions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from finfer.errors import Unavailable
from finfer.front import metrics
from finfer.store.database import DatabaseError
from finfer.store.decisions import DecisionStore, Entry
from finfer.store.digests import Digester
from finfer.store.spool import Spool, SpoolFull

log = logging.getLogger("finfer.recorder")

DRAIN_CHUNK = 500


class Recorder:
    def __init__(self, store: DecisionStore, spool: Spool, digest: Digester, retry_s: float) -> None:
        self.store = store
        self.spool = spool
        self.digest = digest
        self.retry_s = retry_s
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="finfer-recorder")
        self._pending: list[tuple[Entry, asyncio.Future]] = []
        self._wake = asyncio.Event()
        self._last_failure = 0.0
        self._task: asyncio.Task | None = None
        metrics.SPOOL_RECORDS.set(len(spool))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def record(self, kind: str, body: dict[str, Any]) -> None:
        """Returns once the record is in the database or the spool; Unavailable when neither takes it."""
        future = asyncio.get_running_loop().create_future()
        self._pending.append((Entry.new(kind, body["application_id"], body), future))
        self._wake.set()
        await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending:
                self._wake.clear()
                # With a spool to drain, wake up to try the database again even when nothing arrives.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.retry_s if len(self.spool) else None)
            batch, self._pending = self._pending, []
            error = await loop.run_in_executor(self._thread, self._write, [entry for entry, _ in batch])
            for _, future in batch:
                if future.done():
                    continue
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)

    def _write(self, entries: list[Entry]) -> Unavailable | None:
        self._drain()
        if not entries:
            return None
        if not len(self.spool):  # with records waiting, new ones queue behind them: the chain keeps their order
            try:
                self.store.append(entries)
                metrics.RECORDS.labels("stored").inc(len(entries))
                return None
            except DatabaseError as exc:
                self._failed(exc)
        try:
            self.spool.append(entries)
        except SpoolFull as exc:
            metrics.RECORDS.labels("refused").inc(len(entries))
            return Unavailable(f"the decision store is unreachable and {exc}; retry later")
        metrics.RECORDS.labels("spooled").inc(len(entries))
        metrics.SPOOL_RECORDS.set(len(self.spool))
        return None

    def _drain(self) -> None:
        if not len(self.spool) or time.monotonic() - self._last_failure < self.retry_s:
            return
        try:
            while len(self.spool):
                chunk = self.spool.peek(DRAIN_CHUNK)
                self.store.append(chunk, from_spool=True)
                self.spool.drop(len(chunk))
                metrics.SPOOL_RECORDS.set(len(self.spool))
            log.warning("finfer recorder: the database is back; the spool is drained")
        except DatabaseError as exc:
            self._failed(exc)

    def _failed(self, exc: DatabaseError) -> None:
        if time.monotonic() - self._last_failure > 10 * self.retry_s:
            # The driver's message names the host, never a record's content.
            log.warning("finfer recorder: the database failed (%s); spooling", type(exc.orig).__name__)
        self._last_failure = time.monotonic()
        metrics.DATABASE_ERRORS.inc()

    async def close(self) -> None:
        """Write what is pending, then stop; what the spool still holds waits for the next start."""
        deadline = time.monotonic() + 10
        while self._pending and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
        await asyncio.get_running_loop().run_in_executor(self._thread, self._drain)
        await asyncio.get_running_loop().run_in_executor(self._thread, self.store.close)
        self._thread.shutdown(wait=True)
        if len(self.spool):
            log.warning("finfer recorder: %d records wait in %s for the database", len(self.spool), self.spool.path)

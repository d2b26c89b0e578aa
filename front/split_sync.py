"""Every front serves the same split: a change made through one front, or a rollback one decides, reaches the
others through the shared database within `splits_refresh_s`.

A PUT is written to the store first and applied here once written, so that no front serves a split the
others will never see; a store that does not answer refuses the PUT with 503 and nothing changes. A rollback
is applied here at once (a failing candidate must stop now) and written after; while the store is away it is
written again at each refresh. Every front reads the store's splits at each refresh and applies a row whose
revision differs from the one it applied last; one that starts later picks up the current splits. With the
embedded SQLite (one front) this changes nothing but that a split survives the front's restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import sqlalchemy as sa

from finfer.errors import InvalidArgument, Unavailable
from finfer.front.versions import Versions, checked_split
from finfer.settings import Split
from finfer.store import splits
from finfer.store.database import DatabaseError, failure
from finfer.store.splits import StoredSplit

log = logging.getLogger("finfer.splits")


def _live(split: Split) -> dict[int, int]:
    return {v: w for v, w in split.by_version.items() if w}


def same(one: Split, other: Split) -> bool:
    """Whether two splits serve alike (a version left out and one at weight 0 are the same)."""
    return _live(one) == _live(other) and one.shadow == other.shadow


class SplitSync:
    def __init__(self, versions: dict[str, Versions], engine: sa.Engine, interval_s: float, retry_after_s: int) -> None:
        self.versions = versions
        self.engine = engine
        self.interval_s = interval_s
        self.retry_after_s = retry_after_s
        self.applied: dict[str, str] = {}  # pipeline → the revision applied last
        self.pending: list[tuple[str, int, str]] = []  # rollbacks decided here, not yet written
        # Reads and writes take turns: a read that began before this front's write must not undo it.
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()  # a rollback to write: refresh now, not at the next interval
        self._store_away = False
        for name, versions_of in versions.items():
            versions_of.on_rollback = lambda version, reason, name=name: self._rolled_back(name, version, reason)

    async def start(self) -> None:
        """The store's current splits (a front that starts later serves what the others serve), then refreshes;
        nothing to read where no pipeline has a candidate version built."""
        if not self.versions:
            return
        await self.refresh()
        self._task = asyncio.create_task(self._keep())

    async def put(self, pipeline: str, split: Split) -> None:
        """PUT /v1/admin/splits/{pipeline}: checked, stored, then served here; the others follow."""
        versions = self.versions[pipeline]
        checked_split(split, versions.built)
        async with self._lock:
            try:
                stored = await asyncio.to_thread(splits.write, self.engine, pipeline, split)
            except DatabaseError as exc:
                message = f"the shared store did not answer ({failure(exc)}); the split of {pipeline} is unchanged"
                raise Unavailable(message, retry_after_s=self.retry_after_s) from None
            self._apply(stored, shared=False)

    async def refresh(self) -> None:
        """Write the rollbacks still pending, then apply every split another front changed."""
        async with self._lock:
            try:
                await self._write_pending()
                stored = await asyncio.to_thread(splits.read_all, self.engine)
            except DatabaseError as exc:
                if not self._store_away:
                    log.warning(
                        "finfer front: the shared splits cannot be read (%s); serving the last ones", failure(exc)
                    )
                self._store_away = True
                return
            if self._store_away:
                log.warning("finfer front: the shared splits can be read again")
            self._store_away = False
            for row in stored.values():
                if row.pipeline in self.versions and self.applied.get(row.pipeline) != row.revision:
                    self._apply(row, shared=True)

    def _apply(self, stored: StoredSplit, shared: bool) -> None:
        versions = self.versions[stored.pipeline]
        try:
            if shared:
                versions.apply_shared(stored.split, stored.cause, stored.changed_at)
            else:
                versions.apply(stored.split)
        except InvalidArgument as error:
            # Another front serves versions this one lacks (an image mid-rollout): keep serving what is built.
            log.warning("finfer front: the shared split of %s is not served here: %s", stored.pipeline, error.message)
        self.applied[stored.pipeline] = stored.revision

    def _rolled_back(self, pipeline: str, version: int, reason: str) -> None:
        self.pending.append((pipeline, version, reason))
        self._wake.set()

    async def _write_pending(self) -> None:
        while self.pending:
            pipeline, version, reason = self.pending[0]
            served = self.versions[pipeline].split
            stored = await asyncio.to_thread(splits.roll_back, self.engine, pipeline, version, reason, served)
            self.pending.pop(0)
            if stored is None:
                continue  # already at 0 in the store: the read that follows applies what is there
            if not same(stored.split, served):  # another front's PUT came first: its split, the candidate at 0
                self._apply(stored, shared=False)
            self.applied[pipeline] = stored.revision

    async def _keep(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            self._wake.clear()
            await self.refresh()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

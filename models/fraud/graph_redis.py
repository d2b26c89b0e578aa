"""The fraud graph shared by Triton replicas: insertions recorded in one Redis stream, folded by each replica.

Every replica loads the same shipped base graph and applies the stream's entries in stream order, so all
replicas hold the same graph (the same node numbers, so the same samples and the same scores). One
application is one stream entry, so an insertion is atomic: a replica sees all of it or none of it. An
insert appends, then catches up to its own entry; a read catches up first, so an application persisted
through replica A is in the evidence of the next request to replica B.

Redis must persist (appendonly) for the stream to outlive Redis; the cache's Redis, which may evict, is
not the place for it (FINFER_FRAUD_GRAPH_URL is a setting of its own).

The stream's history is bounded by compaction (`compact`, run by `finfer graph compact` and on a schedule
by the fraud model): the graph as folded through entry T is saved as a snapshot beside the stream, and the
entries up to T are trimmed, both in one transaction. A replica reads the stream's new entries, then the
snapshot's T, so it never sees the trim without the snapshot: one behind T adopts the snapshot (the same
graph it would have folded, numbered alike) and goes on from T.
"""

from __future__ import annotations

import io
import sys
import threading
import time
from dataclasses import dataclass

import redis

from finfer.models.fraud.graph import InMemoryGraph, Insertion

_FIELD = b"insertion"
_PAGE = 1000
# The snapshot's fields: the saved graph, the last stream entry folded into it, how many entries that is.
_GRAPH, _THROUGH, _ENTRIES = b"graph", b"through", b"entries"


class GraphUnavailable(ConnectionError):
    """The shared graph's Redis did not answer: the request may succeed later, not a bad request."""


def _unavailable(what: str, exc: redis.RedisError) -> GraphUnavailable:
    # The caller gets what failed; Triton's log gets why (Redis's address and error stay out of answers).
    print(f"finfer fraud graph: {what}: {exc}", file=sys.stderr, flush=True)
    return GraphUnavailable(f"{what} (its Redis did not answer); retry later")


def stream_key(model_version: str) -> str:
    # One stream per model version: a retrained model ships another base graph, with other node numbers.
    return f"finfer:fraud_graph:{model_version}:insertions"


# How often a replica compacts (seconds; 0: never), set by finfer's Triton from the setting fraud_graph_compact_s.
COMPACT_EVERY_VARIABLE = "FINFER_FRAUD_GRAPH_COMPACT_S"
COMPACT_EVERY_S = 3600.0
# A stream shorter than this is not worth a snapshot of the whole graph.
COMPACT_MIN_ENTRIES = 1000


def snapshot_key(model_version: str) -> str:
    return f"finfer:fraud_graph:{model_version}:snapshot"


def entry_id(text: str | bytes) -> tuple[int, int]:
    """A stream entry id ("1733270400000-3") as numbers, to compare."""
    ms, _, seq = (text.decode() if isinstance(text, bytes) else text).partition("-")
    return int(ms), int(seq or 0)


@dataclass(frozen=True)
class Compaction:
    through: str  # the last entry folded into the snapshot
    entries: int  # entries folded into it since the shipped base
    trimmed: int  # entries removed from the stream
    snapshot_bytes: int


class RedisLog:
    def __init__(self, client: redis.Redis, stream: str, snapshot: str) -> None:
        self.client = client
        self.stream = stream
        self.snapshot = snapshot
        self.last_id = "0-0"  # the last entry applied
        self.entries = 0  # entries applied since the shipped base, a snapshot's included

    @classmethod
    def connect(cls, url: str, model_version: str, timeout_s: float = 1.0) -> RedisLog:
        client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        return cls(client, stream_key(model_version), snapshot_key(model_version))

    def replay(self, store: InMemoryGraph) -> int:
        """What the stream holds at start (the records applied, as the journal counts them); with Redis down,
        the first request catches up instead."""
        try:
            return self._apply_new(store)
        except GraphUnavailable:
            return 0

    def insert(self, store: InMemoryGraph, insertion: Insertion) -> int:
        try:
            self.client.xadd(self.stream, {_FIELD: insertion.to_json()})
        except redis.RedisError as exc:
            raise _unavailable(f"the shared fraud graph could not record {insertion.key!r}", exc) from None
        self.catch_up(store)
        found = store.find_application(insertion.key)
        if found is None:  # the entry is in the stream, so catching up applied it
            raise GraphUnavailable(f"the shared fraud graph lost {insertion.key!r} between write and read")
        return found

    def catch_up(self, store: InMemoryGraph) -> None:
        self._apply_new(store)

    def _apply_new(self, store: InMemoryGraph) -> int:
        """Every entry after the last one applied, in stream order, through a newer snapshot where one was
        written since; returns how many entries that folded."""
        before = self.entries
        while True:
            try:
                # One round trip, in this order: a compaction (snapshot and trim at once) landing between the
                # two is seen by the second, and a trim is never seen without its snapshot. No MULTI: it cost
                # a third more a catch-up.
                with self.client.pipeline(transaction=False) as pipe:
                    pipe.xrange(self.stream, min=f"({self.last_id}", count=_PAGE)
                    pipe.hget(self.snapshot, _THROUGH)
                    entries, through = pipe.execute()
            except redis.RedisError as exc:
                raise _unavailable("the shared fraud graph is unavailable", exc) from None
            if through is not None and entry_id(through) > entry_id(self.last_id):
                self._adopt_snapshot(store)  # the entries up to it may be trimmed: take it whole
                continue
            for entry, fields in entries:
                store.apply(Insertion.from_json(fields[_FIELD]))
                self.last_id = entry.decode()
            self.entries += len(entries)
            if len(entries) < _PAGE:
                return self.entries - before

    def _adopt_snapshot(self, store: InMemoryGraph) -> None:
        try:
            snapshot = self.client.hgetall(self.snapshot)
        except redis.RedisError as exc:
            raise _unavailable("the shared fraud graph's snapshot is unavailable", exc) from None
        store.adopt(InMemoryGraph.load(io.BytesIO(snapshot[_GRAPH])))
        self.last_id = snapshot[_THROUGH].decode()
        self.entries = int(snapshot[_ENTRIES])

    def compact(self, store: InMemoryGraph) -> Compaction | None:
        """Save `store`, caught up, as the snapshot and trim the stream through its last entry. None when there
        is nothing to fold, or another compaction wrote one at least as recent meanwhile."""
        with store.lock:  # no insertion lands between catching up and saving
            self._apply_new(store)
            through, entries = self.last_id, self.entries
            if through == "0-0":
                return None
            saved = io.BytesIO()
            store.save(saved)
        ms, seq = entry_id(through)
        try:
            with self.client.pipeline(transaction=True) as pipe:
                pipe.watch(self.snapshot)
                current = pipe.hget(self.snapshot, _THROUGH)
                if current is not None and entry_id(current) >= (ms, seq):
                    return None
                pipe.multi()
                pipe.hset(self.snapshot, mapping={_GRAPH: saved.getvalue(), _THROUGH: through, _ENTRIES: entries})
                # Exact, not "~": every entry through the snapshot goes, and none after it.
                pipe.xtrim(self.stream, minid=f"{ms}-{seq + 1}", approximate=False)
                _, trimmed = pipe.execute()
        except redis.WatchError:
            return None
        except redis.RedisError as exc:
            raise _unavailable("the shared fraud graph could not be compacted", exc) from None
        return Compaction(through=through, entries=entries, trimmed=int(trimmed), snapshot_bytes=len(saved.getvalue()))


def compact_on_schedule(
    store: InMemoryGraph, log: RedisLog, every_s: float, min_entries: int = COMPACT_MIN_ENTRIES
) -> threading.Thread:
    """A daemon thread of the fraud model: every `every_s`, compact when the stream holds `min_entries`. Every
    replica runs one; the first to compact wins (WATCH), and the others then find the stream short. Saving
    holds the graph's lock: this replica's fraud requests wait for it (a second or less for 20 MB)."""

    def run() -> None:
        while True:
            time.sleep(every_s)
            try:
                if log.client.xlen(log.stream) < min_entries:
                    continue
                done = log.compact(store)
            except (GraphUnavailable, redis.RedisError) as exc:
                print(f"finfer fraud graph: compaction skipped this round: {exc}", file=sys.stderr, flush=True)
                continue
            if done is not None:
                print(
                    f"finfer fraud graph: compacted through {done.through} ({done.entries} entries, "
                    f"{done.snapshot_bytes} bytes); {done.trimmed} entries trimmed",
                    file=sys.stderr,
                    flush=True,
                )

    thread = threading.Thread(target=run, name="graph-compaction", daemon=True)
    thread.start()
    return thread

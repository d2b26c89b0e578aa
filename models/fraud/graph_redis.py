"""The fraud graph shared by Triton replicas: insertions recorded in one Redis stream, folded by each replica.

Every replica loads the same shipped base graph and applies the stream's entries in stream order, so all
replicas hold the same graph (the same node numbers, so the same samples and the same scores). One
application is one stream entry, so an insertion is atomic: a replica sees all of it or none of it. An
insert appends, then catches up to its own entry; a read catches up first, so an application persisted
through replica A is in the evidence of the next request to replica B.

Redis must persist (appendonly) for the stream to outlive Redis; the cache's Redis, which may evict, is
not the place for it (FINFER_FRAUD_GRAPH_URL is a setting of its own).
"""

from __future__ import annotations

import sys

import redis

from finfer.models.fraud.graph import InMemoryGraph, Insertion

_FIELD = b"insertion"
_PAGE = 1000


class GraphUnavailable(ConnectionError):
    """The shared graph's Redis did not answer: the request may succeed later, not a bad request."""


def _unavailable(what: str, exc: redis.RedisError) -> GraphUnavailable:
    # The caller gets what failed; Triton's log gets why (Redis's address and error stay out of answers).
    print(f"finfer fraud graph: {what}: {exc}", file=sys.stderr, flush=True)
    return GraphUnavailable(f"{what} (its Redis did not answer); retry later")


def stream_key(model_version: str) -> str:
    # One stream per model version: a retrained model ships another base graph, with other node numbers.
    return f"finfer:fraud_graph:{model_version}:insertions"


class RedisLog:
    def __init__(self, client: redis.Redis, stream: str) -> None:
        self.client = client
        self.stream = stream
        self.last_id = "0-0"  # the last entry applied

    @classmethod
    def connect(cls, url: str, model_version: str, timeout_s: float = 1.0) -> RedisLog:
        client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        return cls(client, stream_key(model_version))

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
        """Every entry after the last one applied, in stream order; returns how many."""
        applied = 0
        while True:
            try:
                entries = self.client.xrange(self.stream, min=f"({self.last_id}", count=_PAGE)
            except redis.RedisError as exc:
                raise _unavailable("the shared fraud graph is unavailable", exc) from None
            for entry_id, fields in entries:
                store.apply(Insertion.from_json(fields[_FIELD]))
                self.last_id = entry_id.decode()
            applied += len(entries)
            if len(entries) < _PAGE:
                return applied

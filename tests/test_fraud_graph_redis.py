"""The fraud graph shared through a Redis stream: two stores (two replicas) on a real redis-server."""

from __future__ import annotations

import threading
import uuid

import numpy as np
import pytest
import redis

from finfer.models.fraud.features import FEATURES
from finfer.models.fraud.graph import InMemoryGraph
from finfer.models.fraud.graph_redis import GraphUnavailable, RedisLog
from tests.test_fraud_graph import key, small_graph


def graph_db(redis_url: str) -> str:
    """Database 1 of the session's redis-server: the graph's streams apart from the cache tests' keys."""
    return redis_url.rsplit("/", 1)[0] + "/1"


def replica(url: str, version: str) -> InMemoryGraph:
    store = small_graph()
    store.attach_log(RedisLog.connect(graph_db(url), version))
    return store


def test_an_application_persisted_through_one_replica_is_seen_by_the_other(redis_url):
    version = uuid.uuid4().hex
    a, b = replica(redis_url, version), replica(redis_url, version)
    app = a.insert("shared-1", np.ones(len(FEATURES)), {"device": [key("device", "d0"), key("device", "fresh")]})
    assert a.application_keys(np.array([app])) == ["shared-1"]
    assert b.find_application("shared-1") is None  # not read yet
    b.refresh()
    seen = b.find_application("shared-1")
    assert seen == app
    (fresh,) = b.find_entities("device", [key("device", "fresh")])
    assert b.applications_of("device", int(fresh)).tolist() == [app]
    assert sorted(b.applications_of("device", 0).tolist()) == [0, 1, 2, app]
    # A third replica started later replays the stream at attach.
    assert replica(redis_url, version).find_application("shared-1") == app
    # Nothing of the raw ids is in Redis, only the keyed hashes.
    stream = redis.Redis.from_url(graph_db(redis_url)).xrange(f"finfer:fraud_graph:{version}:insertions")
    assert b"fresh" not in b"".join(fields[b"insertion"] for _, fields in stream)


def test_replicas_writing_at_once_end_with_the_same_graph(redis_url):
    version = uuid.uuid4().hex
    stores = [replica(redis_url, version) for _ in range(3)]
    ring = key("device", "ring-tablet")

    def writer(w: int) -> None:
        for i in range(40):
            stores[w].insert(f"w{w}-{i}", np.full(len(FEATURES), w), {"device": [ring, key("device", f"own-{w}-{i}")]})

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for store in stores:
        store.refresh()
    everything = np.arange(stores[0].size)
    keys = [s.application_keys(everything) for s in stores]
    assert stores[0].size == 5 + 120 and keys[0] == keys[1] == keys[2]  # same node numbers everywhere
    (tablet,) = stores[0].find_entities("device", [ring])
    members = [sorted(s.applications_of("device", int(tablet)).tolist()) for s in stores]
    assert len(members[0]) == 120 and members[0] == members[1] == members[2]


def test_a_redis_that_does_not_answer_is_reported_not_silently_skipped():
    (port,) = _closed_port()
    store = small_graph()
    # At start an unreachable Redis only delays the replay; reads and writes then fail clearly.
    assert store.attach_log(RedisLog.connect(f"redis://127.0.0.1:{port}/0", "v", timeout_s=0.2)) == 0
    with pytest.raises(GraphUnavailable, match="shared fraud graph"):
        store.refresh()
    with pytest.raises(GraphUnavailable, match="could not record 'lost'"):
        store.insert("lost", np.ones(len(FEATURES)), {})
    assert store.find_application("lost") is None  # nothing half-applied


def _closed_port() -> list[int]:
    from finfer.loadtest.stack import free_ports

    return free_ports(1)


def test_replay_counts_records_as_the_journal_does(redis_url):
    version = uuid.uuid4().hex
    writer = replica(redis_url, version)
    for features in (1.0, 2.0):  # the same application twice: two records, one application
        writer.insert("twice", np.full(len(FEATURES), features), {"device": [key("device", "d0")]})
    later = small_graph()
    assert later.attach_log(RedisLog.connect(graph_db(redis_url), version)) == 2
    assert later.size == 6 and later.features(np.array([5])).tolist() == [[2.0] * len(FEATURES)]

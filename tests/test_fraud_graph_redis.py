"""The fraud graph shared through a Redis stream: two stores (two replicas) on a real redis-server."""

from __future__ import annotations

import threading
import uuid

import numpy as np
import pytest
import redis

from finfer.exporters.onnx_tools import run_onnx
from finfer.models.fraud import scoring as fraud_scoring
from finfer.models.fraud.features import FEATURES, KINDS
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


def test_a_compaction_under_load_loses_no_acknowledged_insertion_and_every_replica_holds_the_same_graph(redis_url):
    version = uuid.uuid4().hex
    writers = [replica(redis_url, version) for _ in range(2)]
    compactor = replica(redis_url, version)
    ring = key("device", "ring-phone")
    acknowledged: list[str] = []

    def write(w: int) -> None:
        for i in range(150):
            name = f"w{w}-{i}"
            links = {"device": [ring, key("device", f"own-{name}")]}
            writers[w].insert(name, np.full(len(FEATURES), i), links)
            acknowledged.append(name)
            if i % 10 == 9:  # an application that gains a link after others did: neighbour order must survive
                writers[w].insert(f"w{w}-{i - 9}", np.full(len(FEATURES), -i), {"phone": [key("phone", f"late-{w}")]})

    threads = [threading.Thread(target=write, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    compactions = []
    while any(t.is_alive() for t in threads):  # compacting over and over while the writers insert
        compactions.append(compactor.log.compact(compactor))
    for t in threads:
        t.join()
    compactions.append(compactor.log.compact(compactor))
    folded = [c for c in compactions if c is not None]
    assert len(folded) >= 2 and sum(c.trimmed for c in folded) > 0
    stream = redis.Redis.from_url(graph_db(redis_url))
    assert stream.xlen(f"finfer:fraud_graph:{version}:insertions") == 0  # the last compaction took everything

    later = small_graph()  # a replica started after: the snapshot, then the stream (empty)
    assert later.attach_log(RedisLog.connect(graph_db(redis_url), version)) == 2 * 150 + 2 * 15
    assert all(later.find_application(name) is not None for name in acknowledged)
    assert len(acknowledged) == 300
    for store in (*writers, compactor):
        store.refresh()  # a replica behind the snapshot adopts it; one ahead only reads on
        assert store.same_as(later)


def test_a_replica_behind_a_trimmed_stream_adopts_the_snapshot(redis_url):
    version = uuid.uuid4().hex
    writer, idle = replica(redis_url, version), replica(redis_url, version)
    for i in range(20):
        writer.insert(f"x{i}", np.full(len(FEATURES), i), {"device": [key("device", "d0")]})
    result = writer.log.compact(writer)
    assert result is not None and result.trimmed == 20 and result.entries == 20
    assert writer.log.compact(writer) is None  # nothing new: no second snapshot
    writer.insert("after", np.ones(len(FEATURES)), {"device": [key("device", "d0")]})
    assert idle.find_application("x0") is None
    idle.refresh()  # its last entry was trimmed away: it takes the snapshot, then the one entry after it
    assert idle.same_as(writer) and idle.find_application("after") == writer.find_application("after")


def test_scores_are_identical_before_and_after_a_compaction(redis_url, repository):
    """The built fraud model's own graph and GNN: scores of a fixed set of applications from a replica that
    folded the stream itself, and from one started after the compaction, from the snapshot."""
    version_dir = repository / "fraud_score" / "1"
    config = fraud_scoring.FraudConfig.load(version_dir / "meta.json")
    secret = (version_dir / "link_key.bin").read_bytes()
    gnn = repository / "fraud_gnn" / "1" / "model.onnx"
    shared = uuid.uuid4().hex

    def started() -> InMemoryGraph:
        store = InMemoryGraph.load(version_dir / "graph.npz")
        store.attach_log(RedisLog.connect(graph_db(redis_url), shared))
        return store

    def scores(store: InMemoryGraph, names: list[str], persist: bool) -> np.ndarray:
        links = np.full((len(names), len(KINDS), config.max_links), "", dtype=object)
        for i, name in enumerate(names):
            links[i, 0, :2] = [f"dev-{i % 7}", f"dev-{name}"]  # seven devices, each shared by several
            links[i, 1, 0] = f"+86138{i % 5:08d}"
        return fraud_scoring.score(
            store,
            config,
            secret,
            np.array([[n] for n in names], dtype=object),
            np.random.default_rng(len(names)).uniform(0, 50, (len(names), len(FEATURES))).astype(np.float32),
            links,
            np.full((len(names), 1), persist),
            lambda sub: run_onnx(gnn, {"node_features": sub.features, "edge_index": sub.edge_index})[
                "fraud_probability"
            ],
        )["fraud_probability"]

    writer = started()
    for batch in range(4):
        scores(writer, [f"persisted-{batch}-{i}" for i in range(15)], persist=True)
    probes = [f"probe-{i}" for i in range(25)]
    before = scores(writer, probes, persist=False)
    assert writer.log.compact(writer) is not None
    after = scores(started(), probes, persist=False)
    assert np.array_equal(before, after)
    assert len(set(np.round(before.ravel(), 6))) > 1  # the probes differ: a constant would prove nothing

"""The graph store, the sampler and the evidence on small hand-built graphs (no server)."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest

from finfer.models.fraud.features import FEATURES
from finfer.models.fraud.graph import APPLICATION, NODE_FEATURES, Fanout, InMemoryGraph, Scaler, link_key
from finfer.models.fraud.sampling import Target, evidence, sample, stored_target

SECRET = b"k" * 32
SCALER = Scaler(mean=(0.0,) * len(FEATURES), std=(1.0,) * len(FEATURES))


def key(kind: str, raw: str) -> bytes:
    return link_key(SECRET, kind, raw)


def small_graph() -> InMemoryGraph:
    """a0, a1, a2 share device d0; a1 and a3 share phone p0; a4 has no links. a2 is known fraud."""
    features = np.arange(5 * len(FEATURES), dtype=np.float32).reshape(5, len(FEATURES))
    return InMemoryGraph(
        application_keys=[f"a{i}" for i in range(5)],
        features=features,
        known_fraud=np.array([False, False, True, False, False]),
        entity_keys={
            "device": [key("device", "d0"), key("device", "d1")],
            "phone": [key("phone", "p0")],
            "ip": [key("ip", "i0")],
        },
        links={
            "device": (np.array([0, 1, 2, 3]), np.array([0, 0, 0, 1])),
            "phone": (np.array([1, 3]), np.array([0, 0])),
            "ip": (np.array([0]), np.array([0])),
        },
    )


def edges(subgraph) -> set[tuple[int, int]]:
    return set(map(tuple, subgraph.edge_index.T.tolist()))


def test_two_hop_neighbourhood_is_exact_below_the_fanout():
    store = small_graph()
    sub = sample(store, [stored_target(store, 1)], Fanout(8, 10), SCALER, seeds=[0])
    # target a1 (node 0); its device d0 (node 1) and phone p0 (node 2); then d0's others a0, a2
    # (nodes 3, 4) and p0's other a3 (node 5). a1 itself is not its own neighbour.
    assert sub.targets == 1 and sub.nodes == 6
    kind = sub.features[:, len(FEATURES) : len(FEATURES) + 4].argmax(1).tolist()
    assert kind == [APPLICATION, 1, 2, APPLICATION, APPLICATION, APPLICATION]
    assert edges(sub) == {(1, 0), (2, 0), (3, 1), (4, 1), (5, 2)}
    # entity nodes carry log1p(other applications): d0 has 2 others, p0 has 1
    assert sub.features[1, -1] == pytest.approx(np.log1p(2))
    assert sub.features[2, -1] == pytest.approx(np.log1p(1))
    # sampled applications carry their own features (scaled) and link counts: a0 has 2 links
    assert sub.features[3, : len(FEATURES)] == pytest.approx(SCALER.transform(store.features(np.array([0])))[0])
    assert sub.features[3, -1] == pytest.approx(np.log1p(2))
    assert sub.features.shape[1] == NODE_FEATURES


def test_unlinked_application_is_a_lone_node():
    store = small_graph()
    sub = sample(store, [stored_target(store, 4)], Fanout(), SCALER, seeds=[0])
    assert sub.nodes == 1 and sub.edge_index.shape == (2, 0)


def test_fanout_caps_hub_neighbours_without_repeats():
    n = 50
    store = InMemoryGraph(
        application_keys=[f"a{i}" for i in range(n)],
        features=np.ones((n, len(FEATURES)), dtype=np.float32),
        known_fraud=np.zeros(n, dtype=bool),
        entity_keys={"device": [key("device", "hub")], "phone": [], "ip": []},
        links={"device": (np.arange(n), np.zeros(n, dtype=np.int64)), "phone": ([], []), "ip": ([], [])},
    )
    target = stored_target(store, 0)
    sub = sample(store, [target], Fanout(8, 5), SCALER, seeds=[7])
    hop2 = [src for src, dst in edges(sub) if dst == 1]
    assert len(hop2) == 5 == len(set(hop2))
    # the entity still reports every other application, not just the sampled five
    assert sub.features[1, -1] == pytest.approx(np.log1p(n - 1))
    # one target's sample does not depend on its batch companions
    alone = sample(store, [target], Fanout(8, 5), SCALER, seeds=[7])
    together = sample(store, [stored_target(store, 3), target], Fanout(8, 5), SCALER, seeds=[1, 7])
    tail = together.features[-5:]
    assert np.array_equal(np.sort(alone.features[-5:], axis=0), np.sort(tail, axis=0))


def test_links_per_kind_are_capped():
    store = small_graph()
    many = Target(
        None,
        np.zeros(len(FEATURES), np.float32),
        {"device": np.array([0, 1, -1]), "phone": np.zeros(0, np.int64), "ip": np.zeros(0, np.int64)},
    )
    sub = sample(store, [many], Fanout(links_per_kind=2), SCALER, seeds=[0])
    assert sum(1 for _, dst in edges(sub) if dst == 0) == 2


def test_insert_links_new_and_known_entities():
    store = small_graph()
    app = store.insert("a5", np.ones(len(FEATURES)), {"device": [key("device", "d0"), key("device", "new")]})
    assert app == 5 and store.find_application("a5") == 5
    assert store.entity_count("device") == 3
    assert sorted(store.applications_of("device", 0).tolist()) == [0, 1, 2, 5]
    assert store.entities_of("device", 5).tolist() == [0, 2]
    # inserting the same link again changes nothing
    store.insert("a5", np.ones(len(FEATURES)), {"device": [key("device", "d0")]})
    assert store.link_counts(np.array([5])).tolist() == [2]
    assert sorted(store.applications_of("device", 0).tolist()) == [0, 1, 2, 5]


def test_unpersisted_target_counts_like_a_persisted_one():
    store = small_graph()
    links = {
        "device": store.find_entities("device", [key("device", "d0")]),
        "phone": np.zeros(0, np.int64),
        "ip": np.zeros(0, np.int64),
    }
    fresh = Target(None, np.ones(len(FEATURES), np.float32), links)
    before = sample(store, [fresh], Fanout(), SCALER, seeds=[0])
    app = store.insert("a9", np.ones(len(FEATURES)), {"device": [key("device", "d0")]})
    after = sample(store, [Target(app, fresh.features, links)], Fanout(), SCALER, seeds=[0])
    assert np.array_equal(before.features, after.features)
    assert np.array_equal(before.edge_index, after.edge_index)


def test_concurrent_insertions_keep_the_graph_consistent():
    store = small_graph()
    shared = key("device", "ring-tablet")

    def writer(w: int) -> None:
        for i in range(50):
            store.insert(f"w{w}-{i}", np.ones(len(FEATURES)), {"device": [shared, key("device", f"own-{w}-{i}")]})

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.size == 5 + 400
    (tablet,) = store.find_entities("device", [shared])
    members = store.applications_of("device", int(tablet))
    assert len(members) == 400 == len(set(members.tolist()))
    assert store.entity_count("device") == 2 + 1 + 400
    for app in members[:20]:
        assert int(tablet) in store.entities_of("device", int(app)).tolist()


def test_save_and_load_round_trip_without_clear_ids():
    store = small_graph()
    store.insert("a5", np.ones(len(FEATURES)), {"phone": [key("phone", "+8613800000000")]})
    buffer = io.BytesIO()
    store.save(buffer)
    assert b"8613800000000" not in buffer.getvalue()
    buffer.seek(0)
    loaded = InMemoryGraph.load(buffer)
    assert loaded.size == 6
    assert sorted(loaded.applications_of("device", 0).tolist()) == [0, 1, 2]
    (phone,) = loaded.find_entities("phone", [key("phone", "+8613800000000")])
    assert loaded.applications_of("phone", int(phone)).tolist() == [5]


def test_save_and_load_keeps_keys_that_end_in_nul_bytes():
    store = small_graph()
    digest = b"\x07" + b"\x00" * 15  # numpy's S16 would load this back as b"\x07"
    store.insert("a5", np.ones(len(FEATURES)), {"device": [digest]})
    buffer = io.BytesIO()
    store.save(buffer)
    buffer.seek(0)
    loaded = InMemoryGraph.load(buffer)
    (entity,) = loaded.find_entities("device", [digest])
    assert entity >= 0 and loaded.applications_of("device", int(entity)).tolist() == [5]


def test_link_key_depends_on_the_secret_and_the_kind():
    assert link_key(SECRET, "phone", "123") != link_key(b"x" * 32, "phone", "123")
    assert link_key(SECRET, "phone", "123") != link_key(SECRET, "device", "123")


def test_evidence_ranks_known_fraud_first_then_most_shared():
    store = small_graph()
    # a new application on d0 and p0: a1 shares both, a2 is known fraud, a0 and a3 share one each
    links = {
        "device": store.find_entities("device", [key("device", "d0")]),
        "phone": store.find_entities("phone", [key("phone", "p0")]),
        "ip": store.find_entities("ip", [key("ip", "unseen")]),
    }
    found = evidence(store, Target(None, np.zeros(len(FEATURES), np.float32), links), top=3)
    assert found.shared == {"device": [3], "phone": [2], "ip": [0]}
    assert found.neighbours == 4 and found.known_fraud_neighbours == 1
    assert found.suspicious == ["a2", "a1", "a0"]


def test_journal_replays_persisted_insertions_after_a_restart(tmp_path):
    from finfer.models.fraud.graph import Journal

    path = tmp_path / "journal.jsonl"
    store = small_graph()
    store.attach_log(Journal(path))
    store.insert("j1", np.ones(len(FEATURES)), {"device": [key("device", "d0")], "phone": [key("phone", "+861")]})
    store.insert("j2", np.full(len(FEATURES), 2.0), {"device": [key("device", "new")]})
    with path.open("a") as handle:
        handle.write('{"key": "torn", "feat')  # a crash mid-write
    assert b"+861" not in path.read_bytes()

    restarted = small_graph()
    assert restarted.attach_log(Journal(path)) == 2
    assert restarted.size == store.size == 7
    assert sorted(restarted.applications_of("device", 0).tolist()) == [0, 1, 2, 5]
    (new,) = restarted.find_entities("device", [key("device", "new")])
    assert restarted.applications_of("device", int(new)).tolist() == [6]
    assert restarted.features(np.array([6])).tolist() == [[2.0] * len(FEATURES)]
    # replaying did not write the records a second time
    assert len(path.read_text().splitlines()) == 3

"""Invariants of the generated lending graph."""

from __future__ import annotations

import numpy as np
import pytest

from finfer.models.fraud.features import KINDS
from finfer.models.fraud.training.graph_data import SPLITS, GraphSpec, generate


@pytest.fixture(scope="module")
def graph():
    return generate(GraphSpec(applications=8_000, seed=3))


def test_same_seed_same_graph_other_seed_other_graph(graph):
    again = generate(GraphSpec(applications=8_000, seed=3))
    assert np.array_equal(again.features, graph.features)
    assert all(np.array_equal(again.links[k][1], graph.links[k][1]) for k in KINDS)
    other = generate(GraphSpec(applications=8_000, seed=4))
    assert not np.array_equal(other.features, graph.features)


def test_sized_by_the_parameter(graph):
    assert graph.size == 8_000
    assert len(set(graph.application_ids.tolist())) == 8_000


def test_every_ring_shares_a_device_or_phone(graph):
    for ring in np.unique(graph.ring[graph.ring >= 0]):
        members = set(np.flatnonzero(graph.ring == ring).tolist())
        shared = False
        for kind in ("device", "phone"):
            apps, entities = graph.links[kind]
            inside = np.isin(apps, list(members))
            _, counts = np.unique(entities[inside], return_counts=True)
            shared |= bool((counts >= 2).any())
        assert shared, f"ring {ring} shares nothing"


def test_rings_are_fraud_and_vary_in_size(graph):
    in_ring = graph.ring >= 0
    assert graph.is_fraud[in_ring].all()
    sizes = np.bincount(graph.ring[in_ring])
    assert sizes.min() >= 3 and sizes.max() >= 3 * sizes.min()


def test_no_ring_crosses_splits(graph):
    for ring in np.unique(graph.ring[graph.ring >= 0]):
        assert len(np.unique(graph.split[graph.ring == ring])) == 1
    ring_splits = {SPLITS[s] for s in np.unique(graph.split[graph.ring >= 0])}
    assert ring_splits == set(SPLITS), "every split should hold some rings"


def test_legitimate_hubs_are_bigger_than_rings(graph):
    """Dealer tablets and public Wi-Fi make high degrees honest too: degree alone is not fraud."""
    apps, entities = graph.links["ip"]
    degree = np.bincount(entities)
    hub = np.argmax(degree)
    users = apps[entities == hub]
    assert degree[hub] > 60
    assert graph.is_fraud[users].mean() < 0.2
    assert np.median(degree[degree > 0]) == 1


def test_label_noise_and_unlinked_applications(graph):
    assert ((graph.label == 1) & ~graph.is_fraud).any()
    assert ((graph.label == 0) & graph.is_fraud).any()
    linked = np.zeros(graph.size, dtype=bool)
    for kind in KINDS:
        linked[graph.links[kind][0]] = True
    assert 0 < (~linked).sum() < 0.05 * graph.size

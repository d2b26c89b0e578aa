"""A scored application's neighbourhood: the subgraph the GNN reads (fixed fan-out) and the evidence an
investigator reads (the most shared links and the applications behind them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from finfer.models.fraud.features import FEATURES, KINDS
from finfer.models.fraud.graph import APPLICATION, Fanout, GraphStore, Scaler, node_features

_EMPTY = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class Target:
    """An application to score: its node if stored (None if not), its features and its links (entity
    numbers per kind, -1 for an entity the store has never seen)."""

    application: int | None
    features: np.ndarray
    links: dict[str, np.ndarray]

    @property
    def link_count(self) -> int:
        return sum(len(v) for v in self.links.values())


def stored_target(store: GraphStore, application: int) -> Target:
    links = {kind: store.entities_of(kind, application) for kind in KINDS}
    return Target(application, store.features(np.array([application]))[0], links)


@dataclass
class Subgraph:
    """The sampled computation graph of a batch of targets; targets are nodes 0..len(targets)-1."""

    features: np.ndarray  # float32 [nodes, NODE_FEATURES]
    edge_index: np.ndarray  # int64 [2, edges], messages flow from row 0 to row 1
    targets: int

    @property
    def nodes(self) -> int:
        return len(self.features)


def _others(store: GraphStore, kind: str, entity: int, target: int | None) -> np.ndarray:
    apps = store.applications_of(kind, entity)
    return apps[apps != target] if target is not None else apps


def sample(
    store: GraphStore, targets: Sequence[Target], fanout: Fanout, scaler: Scaler, seeds: Sequence[int]
) -> Subgraph:
    """Two hops around each target: its linked entities, then up to `fanout` other applications of each.

    Entity nodes carry how many *other* applications they link to, so a target counts the same whether
    or not it was inserted into the store before scoring. Each target samples with its own seed, so its
    neighbourhood does not depend on which other targets share the batch.
    """
    kinds = [APPLICATION] * len(targets)
    counts = [t.link_count for t in targets]
    neighbour_apps: list[np.ndarray] = []
    entity_edges: list[tuple[int, int]] = []  # (entity node, target node)
    app_edges: list[tuple[int, int]] = []  # (sampled application's position, entity node)
    n_sampled = 0
    for t_node, target in enumerate(targets):
        rng = np.random.default_rng(seeds[t_node])
        for k, kind in enumerate(KINDS):
            for entity in target.links[kind][: fanout.links_per_kind]:
                others = _others(store, kind, int(entity), target.application)
                entity_node = len(kinds)
                kinds.append(1 + k)
                counts.append(len(others))
                entity_edges.append((entity_node, t_node))
                if len(others) > fanout.applications_per_entity:
                    others = rng.choice(others, fanout.applications_per_entity, replace=False)
                app_edges.extend((n_sampled + i, entity_node) for i in range(len(others)))
                n_sampled += len(others)
                neighbour_apps.append(others)
    sampled = np.concatenate(neighbour_apps) if neighbour_apps else _EMPTY
    first_sampled = len(kinds)
    kind = np.array(kinds + [APPLICATION] * len(sampled), dtype=np.int64)
    count = np.array(counts + store.link_counts(sampled).tolist(), dtype=np.float64)
    tabular = np.zeros((len(kind), len(FEATURES)), dtype=np.float32)
    tabular[: len(targets)] = np.stack([t.features for t in targets]) if targets else tabular[:0]
    tabular[first_sampled:] = store.features(sampled)
    edges = entity_edges + [(first_sampled + position, entity) for position, entity in app_edges]
    edge_index = np.array(edges, dtype=np.int64).T.reshape(2, -1)
    return Subgraph(node_features(scaler, tabular, kind, count), edge_index, len(targets))


@dataclass
class Evidence:
    """What an investigator needs next to the score, counted over the full neighbourhood (not the sample)."""

    shared: dict[str, list[int]] = field(default_factory=dict)  # per link given: other applications on it
    neighbours: int = 0  # distinct other applications sharing any link
    known_fraud_neighbours: int = 0
    suspicious: list[str] = field(default_factory=list)  # most suspicious neighbours first


def evidence(store: GraphStore, target: Target, top: int) -> Evidence:
    shared: dict[str, list[int]] = {}
    found = []
    for kind in KINDS:
        others = [_others(store, kind, int(e), target.application) for e in target.links[kind]]
        shared[kind] = [len(o) for o in others]
        found += others
    if not found or not sum(len(f) for f in found):
        return Evidence(shared=shared)
    apps, links_shared = np.unique(np.concatenate(found), return_counts=True)
    fraud = store.known_fraud(apps)
    # Known fraud first, then those sharing the most links with the target.
    order = np.lexsort((apps, -links_shared, ~fraud))[:top]
    return Evidence(
        shared=shared,
        neighbours=len(apps),
        known_fraud_neighbours=int(fraud.sum()),
        suspicious=store.application_keys(apps[order]),
    )

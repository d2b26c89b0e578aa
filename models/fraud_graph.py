"""The fraud graph: a store of applications and their device/phone/IP links, the k-hop sampler the
GNN reads, node features, and the evidence an investigator sees. Plain numpy, no Triton, no torch.

The sampler and the feature builder are the same code in training and serving, so the served GNN
sees the neighbourhoods it was trained on.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol, TextIO

import numpy as np

from finfer.models.fraud_data import FEATURES, KINDS

APPLICATION = 0  # node kind index; entities are 1 + their index in KINDS
NODE_FEATURES = len(FEATURES) + 1 + len(KINDS) + 1  # tabular, kind one-hot, log1p(link count)
_EMPTY = np.zeros(0, dtype=np.int64)
KEY_BYTES = 16


def link_key(secret: bytes, kind: str, raw: str) -> bytes:
    """What the store keeps of a device, phone or IP id: a keyed hash, so no phone number sits in memory in clear."""
    return hashlib.blake2b(raw.encode(), key=secret, digest_size=KEY_BYTES, person=kind.encode()).digest()


@dataclass(frozen=True)
class Fanout:
    """Neighbours kept per hop: links of each kind of the application, then applications per linked entity."""

    links_per_kind: int = 8
    applications_per_entity: int = 10


@dataclass(frozen=True)
class Scaler:
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, features: np.ndarray) -> Scaler:
        logged = _log_features(features)
        return cls(tuple(map(float, logged.mean(0))), tuple(map(float, logged.std(0) + 1e-6)))

    def transform(self, features: np.ndarray) -> np.ndarray:
        return ((_log_features(features) - np.array(self.mean)) / np.array(self.std)).astype(np.float32)


def _log_features(features: np.ndarray) -> np.ndarray:
    # Money, tenures and ages of accounts are heavy-tailed; log makes them well-behaved inputs.
    return np.log1p(np.maximum(np.asarray(features, dtype=np.float64), 0.0))


def node_features(scaler: Scaler, tabular: np.ndarray, kind: np.ndarray, link_count: np.ndarray) -> np.ndarray:
    """One row per node: scaled tabular features (zero for entities), kind one-hot, log1p(links)."""
    n = len(kind)
    out = np.zeros((n, NODE_FEATURES), dtype=np.float32)
    apps = kind == APPLICATION
    if apps.any():
        out[apps, : len(FEATURES)] = scaler.transform(tabular[apps])
    out[np.arange(n), len(FEATURES) + kind] = 1.0
    out[:, -1] = np.log1p(link_count)
    return out


class GraphStore(Protocol):
    """What the sampler needs from a graph. The in-memory store ships (kept in step with a log); a graph database
    could implement this."""

    lock: threading.RLock

    def find_application(self, key: str) -> int | None: ...
    def find_entities(self, kind: str, keys: Sequence[bytes]) -> np.ndarray: ...
    def applications_of(self, kind: str, entity: int) -> np.ndarray: ...
    def entities_of(self, kind: str, application: int) -> np.ndarray: ...
    def features(self, applications: np.ndarray) -> np.ndarray: ...
    def link_counts(self, applications: np.ndarray) -> np.ndarray: ...
    def known_fraud(self, applications: np.ndarray) -> np.ndarray: ...
    def application_keys(self, applications: np.ndarray) -> list[str]: ...
    def refresh(self) -> None: ...
    def insert(self, key: str, features: np.ndarray, links: dict[str, Sequence[bytes]]) -> int: ...


class _Adjacency:
    """Neighbour lists: a compressed base built once, plus lists for what was inserted since."""

    def __init__(self, sources: np.ndarray, targets: np.ndarray, n_sources: int) -> None:
        order = np.argsort(sources, kind="stable")
        self.indices = targets[order].astype(np.int64)
        self.indptr = np.zeros(n_sources + 1, dtype=np.int64)
        np.cumsum(np.bincount(sources, minlength=n_sources), out=self.indptr[1:])
        self.added: dict[int, list[int]] = defaultdict(list)

    def of(self, node: int) -> np.ndarray:
        base = self.indices[self.indptr[node] : self.indptr[node + 1]] if node + 1 < len(self.indptr) else _EMPTY
        extra = self.added.get(node)
        return np.concatenate([base, np.array(extra, dtype=np.int64)]) if extra else base

    def count(self, node: int) -> int:
        base = int(self.indptr[node + 1] - self.indptr[node]) if node + 1 < len(self.indptr) else 0
        return base + len(self.added.get(node, ()))

    def add(self, source: int, target: int) -> None:
        self.added[source].append(target)

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        sources = np.repeat(np.arange(len(self.indptr) - 1), np.diff(self.indptr))
        extra = [(s, t) for s, targets in self.added.items() for t in targets]
        if extra:
            more = np.array(extra, dtype=np.int64)
            return np.concatenate([sources, more[:, 0]]), np.concatenate([self.indices, more[:, 1]])
        return sources, self.indices


@dataclass(frozen=True)
class Insertion:
    """One persisted application: the unit every insertion log records, whole or not at all."""

    key: str
    features: np.ndarray
    links: dict[str, Sequence[bytes]]

    def to_json(self) -> str:
        # Links are already keyed hashes, so a log holds no raw phone numbers.
        return json.dumps(
            {
                "key": self.key,
                "features": [float(v) for v in self.features],
                "links": {kind: [h.hex() for h in hashes] for kind, hashes in self.links.items()},
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Insertion:
        record = json.loads(text)
        links = {kind: [bytes.fromhex(h) for h in hashes] for kind, hashes in record["links"].items()}
        return cls(record["key"], np.array(record["features"], dtype=np.float32), links)


class InsertionLog(Protocol):
    """Where a graph's insertions are recorded, so that a restart (or another replica) sees them.

    The graph is its shipped base plus the log folded over it in log order: `replay` folds what is there
    at start, `insert` records one insertion and applies it, `catch_up` applies what others recorded.
    """

    def replay(self, store: InMemoryGraph) -> int: ...
    def insert(self, store: InMemoryGraph, insertion: Insertion) -> int: ...
    def catch_up(self, store: InMemoryGraph) -> None: ...


class Journal:
    """A single replica's log: JSON lines in a file, replayed at start, so a restart keeps what was accepted.

    Each line is flushed to the OS before the insert returns (it survives a crash of the process,
    not of the machine).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: TextIO | None = None

    def replay(self, store: InMemoryGraph) -> int:
        if not self.path.exists():
            return 0
        count = 0
        for line in self.path.read_text().splitlines():
            try:
                insertion = Insertion.from_json(line)
            except json.JSONDecodeError:
                continue  # a line torn by a crash mid-write
            store.apply(insertion)
            count += 1
        return count

    def insert(self, store: InMemoryGraph, insertion: Insertion) -> int:
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("a", encoding="utf-8")
        self._handle.write(insertion.to_json() + "\n")
        self._handle.flush()
        return store.apply(insertion)

    def catch_up(self, store: InMemoryGraph) -> None:
        """Nothing to do: this process is the only writer."""


def _key_matrix(keys: Sequence[bytes]) -> np.ndarray:
    """Digests as rows of bytes. Not numpy's `S16`: it drops trailing NUL bytes, and 1 digest in 256 ends in one."""
    return np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), KEY_BYTES)


class InMemoryGraph:
    """The embedded default: the whole graph in the memory of Triton's graph model. One writer at a time."""

    def __init__(
        self,
        application_keys: Sequence[str],
        features: np.ndarray,
        known_fraud: np.ndarray,
        entity_keys: dict[str, Sequence[bytes]],
        links: dict[str, tuple[np.ndarray, np.ndarray]],
    ) -> None:
        self.lock = threading.RLock()
        self.log: InsertionLog | None = None
        n = len(application_keys)
        self._keys = list(application_keys)
        self._index = {k: i for i, k in enumerate(self._keys)}
        if len(self._index) != n:
            raise ValueError("application keys must be unique")
        capacity = max(16, n * 2)
        self._features = np.zeros((capacity, len(FEATURES)), dtype=np.float32)
        self._features[:n] = features
        self._fraud = np.zeros(capacity, dtype=bool)
        self._fraud[:n] = known_fraud
        self._links = np.zeros(capacity, dtype=np.int64)
        self._entity_keys = {kind: list(entity_keys[kind]) for kind in KINDS}
        self._entity_index = {kind: {k: i for i, k in enumerate(self._entity_keys[kind])} for kind in KINDS}
        self._by_entity: dict[str, _Adjacency] = {}
        self._by_application: dict[str, _Adjacency] = {}
        for kind in KINDS:
            apps, entities = (np.asarray(a, dtype=np.int64) for a in links[kind])
            self._by_entity[kind] = _Adjacency(entities, apps, len(self._entity_keys[kind]))
            self._by_application[kind] = _Adjacency(apps, entities, n)
            self._links[:n] += np.bincount(apps, minlength=n)

    # reads

    @property
    def size(self) -> int:
        return len(self._keys)

    def entity_count(self, kind: str) -> int:
        return len(self._entity_keys[kind])

    def find_application(self, key: str) -> int | None:
        return self._index.get(key)

    def find_entities(self, kind: str, keys: Sequence[bytes]) -> np.ndarray:
        index = self._entity_index[kind]
        return np.array([index.get(k, -1) for k in keys], dtype=np.int64)

    def applications_of(self, kind: str, entity: int) -> np.ndarray:
        return self._by_entity[kind].of(entity) if entity >= 0 else _EMPTY

    def entities_of(self, kind: str, application: int) -> np.ndarray:
        return self._by_application[kind].of(application)

    def features(self, applications: np.ndarray) -> np.ndarray:
        return self._features[applications]

    def link_counts(self, applications: np.ndarray) -> np.ndarray:
        return self._links[applications]

    def known_fraud(self, applications: np.ndarray) -> np.ndarray:
        return self._fraud[applications]

    def application_keys(self, applications: np.ndarray) -> list[str]:
        return [self._keys[i] for i in applications]

    # writes

    def attach_log(self, log: InsertionLog) -> int:
        """Replay what earlier runs (or other replicas) recorded, then record every insertion; returns the count."""
        with self.lock:
            replayed = log.replay(self)
            self.log = log
            return replayed

    def refresh(self) -> None:
        """Apply what other replicas recorded since the last call (a shared log only); call before reading."""
        if self.log is not None:
            with self.lock:
                self.log.catch_up(self)

    def insert(self, key: str, features: np.ndarray, links: dict[str, Sequence[bytes]]) -> int:
        """Add an application (or update a known one) with its links, recorded in the log if there is one."""
        insertion = Insertion(key, np.asarray(features, dtype=np.float32), links)
        with self.lock:
            return self.apply(insertion) if self.log is None else self.log.insert(self, insertion)

    def apply(self, insertion: Insertion) -> int:
        """The insertion itself, unrecorded: unseen entities become new nodes; a repeat changes nothing but features."""
        key, features, links = insertion.key, insertion.features, insertion.links
        with self.lock:
            app = self._index.get(key)
            if app is None:
                app = len(self._keys)
                self._grow(app + 1)
                self._keys.append(key)
                self._index[key] = app
            self._features[app] = features
            for kind in KINDS:
                present = set(self._by_application[kind].of(app).tolist())
                for entity_key in dict.fromkeys(links.get(kind, ())):
                    entity = self._entity_index[kind].get(entity_key)
                    if entity is None:
                        entity = len(self._entity_keys[kind])
                        self._entity_keys[kind].append(entity_key)
                        self._entity_index[kind][entity_key] = entity
                    if entity in present:
                        continue
                    present.add(entity)
                    self._by_entity[kind].add(entity, app)
                    self._by_application[kind].add(app, entity)
                    self._links[app] += 1
            return app

    def _grow(self, needed: int) -> None:
        if needed <= len(self._features):
            return
        capacity = needed * 2
        for name in ("_features", "_fraud", "_links"):
            old = getattr(self, name)
            new = np.zeros((capacity, *old.shape[1:]), dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)

    # persistence

    def save(self, target: Path | BinaryIO) -> None:
        with self.lock:
            n = self.size
            arrays = {
                "application_keys": np.array(self._keys),
                "features": self._features[:n],
                "known_fraud": self._fraud[:n],
            }
            for kind in KINDS:
                apps, entities = self._by_application[kind].pairs()
                arrays[f"{kind}_keys"] = _key_matrix(self._entity_keys[kind])
                arrays[f"{kind}_applications"] = apps
                arrays[f"{kind}_entities"] = entities
        np.savez(target, **arrays)

    @classmethod
    def load(cls, source: Path | BinaryIO) -> InMemoryGraph:
        with np.load(source) as data:
            return cls(
                application_keys=data["application_keys"].tolist(),
                features=data["features"],
                known_fraud=data["known_fraud"],
                entity_keys={kind: [row.tobytes() for row in data[f"{kind}_keys"]] for kind in KINDS},
                links={kind: (data[f"{kind}_applications"], data[f"{kind}_entities"]) for kind in KINDS},
            )

    def memory_bytes(self) -> int:
        """Bytes held by the arrays (the dicts and key lists add to this; the server's RSS says how much)."""
        arrays = [self._features, self._fraud, self._links]
        for kind in KINDS:
            arrays += [self._by_entity[kind].indices, self._by_entity[kind].indptr]
            arrays += [self._by_application[kind].indices, self._by_application[kind].indptr]
        return int(sum(a.nbytes for a in arrays))


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

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
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, TextIO

import numpy as np

from finfer.models.fraud.features import FEATURES, KINDS

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

    def by_node(self) -> tuple[np.ndarray, np.ndarray]:
        """The pairs grouped by source, each source's neighbours in their order: equal for equal lists."""
        sources, targets = self.pairs()
        order = np.argsort(sources, kind="stable")
        return sources[order], targets[order]

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
        entity_order: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> None:
        """`links`: per kind, (applications, entities) pairs. `entity_order`: the same pairs as (entities,
        applications) in the order each entity's applications are listed, where it differs from `links`' (a
        saved graph whose applications gained links after others had: sampling follows that order)."""
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
            by_entity = entity_order[kind] if entity_order else (entities, apps)
            self._by_entity[kind] = _Adjacency(
                *(np.asarray(a, dtype=np.int64) for a in by_entity), len(self._entity_keys[kind])
            )
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
                arrays[f"{kind}_entity_order"] = np.stack(self._by_entity[kind].pairs())
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
                # Graphs saved before the order was kept (a shipped base: no application gained links late).
                entity_order={kind: tuple(data[f"{kind}_entity_order"]) for kind in KINDS}
                if f"{KINDS[0]}_entity_order" in data
                else None,
            )

    def adopt(self, other: InMemoryGraph) -> None:
        """Become `other` (a compacted snapshot this replica had not folded yet), keeping this one's log."""
        with self.lock:
            self.__dict__.update({k: v for k, v in other.__dict__.items() if k not in ("lock", "log")})

    def same_as(self, other: InMemoryGraph) -> bool:
        """Whether two graphs hold the same nodes, numbered alike, with the same features and neighbour order."""
        n = self.size
        if self._keys != other._keys or any(self._entity_keys[k] != other._entity_keys[k] for k in KINDS):
            return False
        if not (
            np.array_equal(self._features[:n], other._features[:n])
            and np.array_equal(self._fraud[:n], other._fraud[:n])
        ):
            return False
        for kind in KINDS:
            for mine, theirs in ((self._by_entity, other._by_entity), (self._by_application, other._by_application)):
                if any(
                    not np.array_equal(a, b) for a, b in zip(mine[kind].by_node(), theirs[kind].by_node(), strict=True)
                ):
                    return False
        return bool(np.array_equal(self._links[:n], other._links[:n]))

    def memory_bytes(self) -> int:
        """Bytes held by the arrays (the dicts and key lists add to this; the server's RSS says how much)."""
        arrays = [self._features, self._fraud, self._links]
        for kind in KINDS:
            arrays += [self._by_entity[kind].indices, self._by_entity[kind].indptr]
            arrays += [self._by_application[kind].indices, self._by_application[kind].indptr]
        return int(sum(a.nbytes for a in arrays))

"""Scoring applications against the graph: insert (if asked), sample, run the GNN, gather evidence.

The `fraud_score` Triton model is a thin adapter around `score`; tests call it with onnxruntime.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from finfer.models.fraud.features import FEATURE_BOUNDS, FEATURES, KINDS
from finfer.models.fraud.graph import Fanout, GraphStore, Scaler, link_key
from finfer.models.fraud.sampling import Subgraph, Target, evidence, sample

RunGnn = Callable[[Subgraph], np.ndarray]


@dataclass(frozen=True)
class FraudConfig:
    """Everything besides the graph and the weights that serving must share with training (meta.json)."""

    model_version: str
    scaler: Scaler
    fanout: Fanout = Fanout()
    max_links: int = 8  # per kind; the front rejects more
    top_neighbours: int = 5

    def to_json(self) -> str:
        body = asdict(self)
        body["features"] = list(FEATURES)
        body["feature_bounds"] = FEATURE_BOUNDS
        body["kinds"] = list(KINDS)
        return json.dumps(body, indent=2) + "\n"

    @classmethod
    def load(cls, path: Path) -> FraudConfig:
        return cls.from_json(path.read_text())

    @classmethod
    def from_json(cls, text: str) -> FraudConfig:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> FraudConfig:
        if body["features"] != list(FEATURES) or body["kinds"] != list(KINDS):
            raise ValueError("the fraud model was built for other features or link kinds than this finfer")
        return cls(
            model_version=body["model_version"],
            scaler=Scaler(tuple(body["scaler"]["mean"]), tuple(body["scaler"]["std"])),
            fanout=Fanout(**body["fanout"]),
            max_links=body["max_links"],
            top_neighbours=body["top_neighbours"],
        )


def _request_links(link_ids: np.ndarray) -> dict[str, list[str]]:
    """One row of the `link_ids` tensor [kinds, max_links], padded with empty strings."""
    return {kind: [t for t in map(_text, row) if t] for kind, row in zip(KINDS, link_ids, strict=True)}


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def score(
    store: GraphStore,
    config: FraudConfig,
    secret: bytes,
    application_ids: np.ndarray,
    features: np.ndarray,
    link_ids: np.ndarray,
    persist: np.ndarray,
    run_gnn: RunGnn,
) -> dict[str, np.ndarray]:
    """Score a batch; rows with `persist` are inserted into the graph first (so later rows see them)."""
    n = len(application_ids)
    if link_ids.shape[1:] != (len(KINDS), config.max_links):
        raise ValueError(f"link_ids must be [batch, {len(KINDS)}, {config.max_links}], got {list(link_ids.shape)}")
    keys = [_text(a) for a in application_ids.reshape(n, -1)[:, 0]]
    targets = []
    with store.lock:
        store.refresh()
        for i, key in enumerate(keys):
            raw_links = _request_links(link_ids[i])
            hashed = {kind: [link_key(secret, kind, raw) for raw in ids] for kind, ids in raw_links.items()}
            if bool(np.asarray(persist[i]).reshape(-1)[0]):
                application: int | None = store.insert(key, features[i], hashed)
            else:
                application = store.find_application(key)
            links = {kind: store.find_entities(kind, hashed[kind]) for kind in KINDS}
            targets.append(Target(application, features[i].astype(np.float32), links))
        seeds = [zlib.crc32(key.encode()) for key in keys]
        subgraph = sample(store, targets, config.fanout, config.scaler, seeds)
        found = [evidence(store, t, config.top_neighbours) for t in targets]
    probability = run_gnn(subgraph)[:n].astype(np.float32)
    shared = np.full((n, len(KINDS), config.max_links), -1, dtype=np.int64)
    suspicious = np.full((n, config.top_neighbours), "", dtype=object)
    for i, item in enumerate(found):
        for k, kind in enumerate(KINDS):
            shared[i, k, : len(item.shared[kind])] = item.shared[kind]
        suspicious[i, : len(item.suspicious)] = item.suspicious
    return {
        "fraud_probability": probability.reshape(n, 1),
        "shared_counts": shared,
        "neighbours": np.array([[e.neighbours] for e in found], dtype=np.int64),
        "known_fraud_neighbours": np.array([[e.known_fraud_neighbours] for e in found], dtype=np.int64),
        "suspicious_neighbours": suspicious,
    }

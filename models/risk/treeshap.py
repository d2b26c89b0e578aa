"""TreeSHAP of a shallow XGBoost model as table look-ups: the same values as `pred_contribs`, a fraction of the cost.

A tree's exact (path-dependent) TreeSHAP values for a row depend only on which way the row goes at each of
the tree's split nodes. A tree of depth 3 has 7 of them, so 128 patterns: XGBoost itself computes every
pattern's values once, at load (one row realising each pattern, one tree at a time), and serving is a
comparison per node, a table look-up per tree and one matrix product. `pred_contribs` rebuilds each tree's
node statistics on every call (about 300 µs for one row, 56 µs a row in batches, here); the table answers a
row in a few µs. Trees with more than `MAX_NODES` split nodes would need too large a table: `build` then
returns None and the caller keeps `pred_contribs`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_NODES = 10  # 2**10 patterns a tree


@dataclass(frozen=True)
class TreeShapTable:
    feature: np.ndarray  # trees × nodes: the feature each split node reads (padding: 0)
    threshold: np.ndarray  # trees × nodes: a row goes left where feature < threshold (padding: -inf, never)
    values: np.ndarray  # trees × patterns × slots: each pattern's SHAP values of the tree's own features
    to_features: np.ndarray  # (trees · slots) × features: a slot's value added to its feature's column
    bias: float  # the expected margin (pred_contribs' last column)

    def contributions(self, features: np.ndarray) -> np.ndarray:
        """N×(F+1) TreeSHAP contributions (log-odds), the last column the bias, as `pred_contribs` gives them."""
        n = features.shape[0]
        left = features[:, self.feature] < self.threshold  # N × trees × nodes
        weights = (1 << np.arange(self.feature.shape[1], dtype=np.int64)).astype(np.int64)
        pattern = left.astype(np.int64) @ weights  # N × trees
        picked = self.values[np.arange(self.values.shape[0]), pattern]  # N × trees × slots
        out = np.empty((n, self.to_features.shape[1] + 1), dtype=np.float32)
        out[:, :-1] = picked.reshape(n, -1) @ self.to_features
        out[:, -1] = self.bias
        return out


@dataclass(frozen=True)
class _Tree:
    feature: list[int]  # per split node
    threshold: list[float]


def _split_nodes(tree: dict[str, Any]) -> _Tree:
    nodes = [i for i, child in enumerate(tree["left_children"]) if child != -1]
    return _Tree([tree["split_indices"][i] for i in nodes], [float(tree["split_conditions"][i]) for i in nodes])


def _realise(tree: _Tree, pattern: int, n_features: int) -> np.ndarray | None:
    """A row that goes left exactly at the pattern's set bits; None when no row can (contradictory splits)."""
    low = np.full(n_features, -np.inf)
    high = np.full(n_features, np.inf)
    for bit, (f, t) in enumerate(zip(tree.feature, tree.threshold, strict=True)):
        if pattern >> bit & 1:
            high[f] = min(high[f], t)  # x < t
        else:
            low[f] = max(low[f], t)  # x >= t
    if (low >= high).any():
        return None
    row = np.zeros(n_features, dtype=np.float32)
    used = np.isfinite(low) | np.isfinite(high)
    row[used & np.isfinite(low)] = low[used & np.isfinite(low)]
    only_high = used & ~np.isfinite(low)
    row[only_high] = high[only_high] - 1.0
    return row


def build(booster: Any, n_features: int) -> TreeShapTable | None:
    """The table for an XGBoost booster of single-output trees on numeric features; None where it does not fit."""
    import xgboost

    model = json.loads(bytes(booster.save_raw(raw_format="json")))
    trees = [_split_nodes(t) for t in model["learner"]["gradient_booster"]["model"]["trees"]]
    if not trees or any(len(t.feature) > MAX_NODES for t in trees):
        return None
    if any(any(t.get("split_type", [0])) for t in model["learner"]["gradient_booster"]["model"]["trees"]):
        return None  # categorical splits: not a threshold comparison
    nodes = max(len(t.feature) for t in trees)
    slots = max(len(set(t.feature)) for t in trees) or 1
    feature = np.zeros((len(trees), nodes), dtype=np.int64)
    threshold = np.full((len(trees), nodes), -np.inf, dtype=np.float32)
    values = np.zeros((len(trees), 2**nodes, slots), dtype=np.float32)
    to_features = np.zeros((len(trees) * slots, n_features), dtype=np.float32)
    for i, tree in enumerate(trees):
        feature[i, : len(tree.feature)] = tree.feature
        threshold[i, : len(tree.threshold)] = tree.threshold
        own = sorted(set(tree.feature))
        for slot, f in enumerate(own):
            to_features[i * slots + slot, f] = 1.0
        rows = [(p, _realise(tree, p, n_features)) for p in range(2 ** len(tree.feature))]
        rows = [(p, r) for p, r in rows if r is not None]
        shap = booster[i : i + 1].predict(xgboost.DMatrix(np.stack([r for _, r in rows])), pred_contribs=True)
        for (p, _), contribution in zip(rows, shap, strict=True):
            values[i, p, : len(own)] = contribution[own]
    anywhere = xgboost.DMatrix(np.zeros((1, n_features), dtype=np.float32))
    bias = float(booster.predict(anywhere, pred_contribs=True)[0, -1])
    return TreeShapTable(feature, threshold, values, to_features, bias)

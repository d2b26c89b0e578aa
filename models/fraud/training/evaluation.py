"""How the fraud models are judged on held-out rings: ROC/PR AUC and ring recall at the baseline's precision."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Operating:
    threshold: float
    precision: float
    ring_recall: float


def _ranked(labels: np.ndarray, ring_fraud: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Precision and ring recall when flagging the top k, for every k (ties broken by order)."""
    order = np.argsort(-scores, kind="stable")
    flagged = np.arange(1, len(scores) + 1)
    precision = np.cumsum(labels[order]) / flagged
    ring_recall = np.cumsum(ring_fraud[order]) / max(1, int(ring_fraud.sum()))
    return precision, ring_recall


def at_ring_recall(labels: np.ndarray, ring_fraud: np.ndarray, scores: np.ndarray, recall: float) -> Operating:
    """The first cut-off that reaches `recall` of the ring fraud, and the precision there."""
    precision, ring_recall = _ranked(labels, ring_fraud, scores)
    k = int(np.searchsorted(ring_recall, recall))
    k = min(k, len(scores) - 1)
    return Operating(float(np.sort(scores)[::-1][k]), float(precision[k]), float(ring_recall[k]))


def at_precision(labels: np.ndarray, ring_fraud: np.ndarray, scores: np.ndarray, precision_floor: float) -> Operating:
    """The most ring fraud a model catches while its precision stays at or above `precision_floor`."""
    precision, ring_recall = _ranked(labels, ring_fraud, scores)
    ok = np.flatnonzero(precision >= precision_floor)
    if len(ok) == 0:
        return Operating(float("inf"), 0.0, 0.0)
    k = ok[np.argmax(ring_recall[ok])]
    return Operating(float(np.sort(scores)[::-1][k]), float(precision[k]), float(ring_recall[k]))


def summary(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    return {"roc_auc": float(roc_auc_score(labels, scores)), "pr_auc": float(average_precision_score(labels, scores))}


def compare(
    labels: np.ndarray, ring_fraud: np.ndarray, gnn: np.ndarray, baseline: np.ndarray, baseline_recall: float = 0.5
) -> dict:
    """The issue's test: GNN ring recall at the precision the baseline reaches at `baseline_recall` of rings."""
    base = at_ring_recall(labels, ring_fraud, baseline, baseline_recall)
    graph = at_precision(labels, ring_fraud, gnn, base.precision)
    return {
        "baseline": {**summary(labels, baseline), "operating_point": asdict(base)},
        "gnn": {**summary(labels, gnn), "operating_point": asdict(graph)},
        "ring_recall_gain": graph.ring_recall / base.ring_recall if base.ring_recall else float("inf"),
        "test_applications": len(labels),
        "test_ring_fraud": int(ring_fraud.sum()),
    }

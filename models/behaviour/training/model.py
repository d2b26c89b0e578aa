"""The behaviour model: one gradient-boosted model for every length of history, and its held-out figures.

Every training loan is shown to the model once per history length (origination only, then after each of its
six months), so that one model scores a loan from its first statement on. The held-out loans (30%, stratified,
seed 0: the split the data's README quotes its reference on) are never seen in any form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from finfer.models.behaviour.features import MONTHS
from finfer.models.behaviour.training.cards import Cards

SEED = 0
HORIZONS = (0, 1, 3, 6)  # months of history the figures are reported at
# What the data's README measured with one XGBoost model of 300 trees of depth 4 (with sex and marital status):
# ROC AUC, PR AUC.
REFERENCE = {0: (0.62, 0.31), 1: (0.69, 0.40), 3: (0.71, 0.43), 6: (0.77, 0.54)}


@dataclass(frozen=True)
class TreeParams:
    n_estimators: int
    max_depth: int
    learning_rate: float


# Depth 3: the served reasons come from TreeSHAP tables (models/risk/treeshap.py), about 40 µs a loan, where
# XGBoost's own contributions of 500 trees of depth 5 took 1.5 ms; the held-out figures moved by 0.001 at most.
PARAMS = {
    "full": TreeParams(n_estimators=400, max_depth=3, learning_rate=0.05),
    "small": TreeParams(n_estimators=120, max_depth=3, learning_rate=0.15),
}


def split(cards: Cards) -> tuple[Cards, Cards]:
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(cards))
    train, test = train_test_split(rows, test_size=0.3, stratify=cards.defaulted, random_state=SEED)
    return cards.take(train), cards.take(test)


def every_history(cards: Cards) -> tuple[np.ndarray, np.ndarray]:
    """Each loan at each history length, 0 to 6 months, and its outcome."""
    features = np.vstack([cards.history(months) for months in range(MONTHS + 1)])
    return features, np.tile(cards.defaulted, MONTHS + 1)


def train(cards: Cards, params: TreeParams, threads: int = 2) -> Any:
    import xgboost

    features, labels = every_history(cards)
    model = xgboost.XGBClassifier(
        n_estimators=params.n_estimators,
        max_depth=params.max_depth,
        learning_rate=params.learning_rate,
        subsample=0.8,
        colsample_bytree=0.6,
        min_child_weight=20,
        n_jobs=threads,
        random_state=SEED,
        eval_metric="logloss",
    )
    return model.fit(features, labels)


def reliability(labels: np.ndarray, scores: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Predicted against observed default rate in deciles of the score: a calibrated model lies on the diagonal."""
    edges = np.quantile(scores, np.linspace(0, 1, bins + 1))
    which = np.clip(np.searchsorted(edges, scores, side="right") - 1, 0, bins - 1)
    return [
        {
            "predicted": float(scores[which == b].mean()),
            "observed": float(labels[which == b].mean()),
            "loans": int((which == b).sum()),
        }
        for b in range(bins)
        if (which == b).any()
    ]


def held_out(model: Any, test: Cards, warning_threshold: float) -> dict[str, Any]:
    """ROC AUC, PR AUC and Brier score after 0, 1, 3 and 6 months, beside the reference and the base rate; the
    reliability table and the warning band's precision (loans at or above `warning_threshold`) at six months."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    labels = test.defaulted
    report: dict[str, Any] = {"loans": len(test), "base_rate": float(labels.mean()), "horizons": {}}
    for months in HORIZONS:
        scores = model.predict_proba(test.history(months))[:, 1]
        report["horizons"][months] = {
            "roc_auc": float(roc_auc_score(labels, scores)),
            "pr_auc": float(average_precision_score(labels, scores)),
            "brier": float(brier_score_loss(labels, scores)),
            "reference_roc_auc": REFERENCE[months][0],
            "reference_pr_auc": REFERENCE[months][1],
        }
    report["reliability_6"] = reliability(labels, scores)
    flagged = scores >= warning_threshold
    report["warning_band"] = {
        "threshold": warning_threshold,
        "share_flagged": float(flagged.mean()),
        "precision": float(labels[flagged].mean()) if flagged.any() else 0.0,
        "recall": float(flagged[labels == 1].mean()),
    }
    return report

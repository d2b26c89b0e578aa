"""Why a loan's probability of default is what it is: its features' TreeSHAP contributions, summed into the few
things a collector or a borrower can read (the latest repayment status, late months, the balance against the
limit, payments against the bills), the largest risk-raising ones first: the adverse-action style of
origination's reason codes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from finfer.models.behaviour.features import FEATURE_NAMES, MONTHS
from finfer.models.risk.scoring import Reasons


@dataclass(frozen=True)
class Group:
    """Features read as one reason; `shown` is the feature whose value the reason quotes."""

    name: str
    label: str
    features: tuple[str, ...]
    shown: str
    unit: str = ""  # "%": the value is a share, shown as a percentage


GROUPS: tuple[Group, ...] = (
    Group("latest_status", "latest repayment status", ("status_0",), "status_0"),
    Group(
        "late_history",
        "late payments in the last six months",
        (*(f"status_{s}" for s in range(1, MONTHS)), "worst_status", "mean_status", "months_late"),
        "months_late",
    ),
    Group(
        "utilisation",
        "balance against the credit limit",
        (*(f"utilisation_{s}" for s in range(MONTHS)), "mean_utilisation"),
        "utilisation_0",
        "%",
    ),
    Group(
        "payments",
        "payments against the bills",
        (*(f"paid_{s}" for s in range(MONTHS)), *(f"paid_share_{s}" for s in range(MONTHS)), "paid_over_billed"),
        "paid_over_billed",
        "%",
    ),
    Group("limit", "credit limit", ("limit",), "limit"),
    Group("history_length", "months of repayment history", ("months_known",), "months_known"),
    Group("age", "age", ("age",), "age"),
    Group("education", "education", ("education",), "education"),
)


def aggregation_matrix() -> np.ndarray:
    """features × groups: sums a row's per-feature contributions into its reasons."""
    matrix = np.zeros((len(FEATURE_NAMES), len(GROUPS)), dtype=np.float32)
    index = {name: i for i, name in enumerate(FEATURE_NAMES)}
    for g, group in enumerate(GROUPS):
        for name in group.features:
            matrix[index[name], g] = 1.0
    if not (matrix.sum(axis=1) == 1).all():
        raise ValueError("every behaviour feature must belong to exactly one reason group")
    return matrix


AGGREGATION = aggregation_matrix()
SHOWN = np.array([FEATURE_NAMES.index(g.shown) for g in GROUPS])


def show(group: Group, value: float) -> str:
    if np.isnan(value):
        return "none yet"
    if group.unit == "%":
        return f"{value:.0%}"
    return f"{value:g}"


def reason_codes(features: np.ndarray, contributions: np.ndarray, k: int) -> Reasons:
    """The k groups that raised the risk most. `contributions`: N×(F+1) TreeSHAP log-odds, the bias last."""
    grouped = contributions[:, : len(FEATURE_NAMES)] @ AGGREGATION
    order = np.argsort(-grouped, axis=1, kind="stable")[:, :k]
    shape = (len(features), k)
    feature = np.full(shape, "", dtype=object)
    value = np.full(shape, "", dtype=object)
    text = np.full(shape, "", dtype=object)
    contribution = np.zeros(shape, dtype=np.float32)
    for i in range(len(features)):
        for slot, g in enumerate(order[i]):
            c = float(grouped[i, g])
            if not c > 0:
                break
            group = GROUPS[g]
            shown = show(group, float(features[i, SHOWN[g]]))
            feature[i, slot] = group.name
            value[i, slot] = shown
            contribution[i, slot] = c
            text[i, slot] = f"{group.label} ({shown}) raises the risk of default"
    return Reasons(feature=feature, value=value, contribution=contribution, text=text)

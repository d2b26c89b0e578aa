"""Credit-risk scoring: feature encoding, grades and adverse-action reason codes.

Clients send raw applicant fields; the served pipeline encodes them with `encode`, so the
encoding lives in exactly one place for training, serving and tests.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# Readable names for the German credit columns, used in reason texts. Other data sets fall back
# to the column name.
GERMAN_CREDIT_LABELS = {
    "status_of_existing_checking_account": "Checking account status",
    "duration_in_month": "Loan duration (months)",
    "credit_history": "Credit history",
    "purpose": "Loan purpose",
    "credit_amount": "Credit amount",
    "savings_account_and_bonds": "Savings",
    "present_employment_since": "Time in current employment",
    "installment_rate_in_percentage_of_disposable_income": "Instalment as % of disposable income",
    "personal_status_and_sex": "Personal status",
    "other_debtors_or_guarantors": "Other debtors or guarantors",
    "present_residence_since": "Years at current residence",
    "property": "Property",
    "age_in_years": "Age",
    "other_installment_plans": "Other instalment plans",
    "housing": "Housing",
    "number_of_existing_credits_at_this_bank": "Existing credits at this bank",
    "job": "Job",
    "number_of_people_being_liable_to_provide_maintenance_for": "Dependants",
    "telephone": "Telephone",
    "foreign_worker": "Foreign worker",
}

# Upper probability-of-default bound of each grade; the last grade takes the rest.
DEFAULT_GRADES: tuple[tuple[str, float], ...] = (
    ("A", 0.10),
    ("B", 0.20),
    ("C", 0.35),
    ("D", 0.55),
    ("E", 1.0),
)


class EncodingError(ValueError):
    """A raw field cannot be encoded; `field` names it."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class FeatureSchema:
    """What the risk model expects: raw columns, their categories and bounds, and the one-hot layout."""

    target: str
    positive_label: str
    categorical: dict[str, tuple[str, ...]]
    numeric: tuple[str, ...]
    numeric_minimum: dict[str, float]
    labels: dict[str, str] = field(default_factory=dict)
    grades: tuple[tuple[str, float], ...] = DEFAULT_GRADES
    model_version: str = "unversioned"

    @property
    def raw_features(self) -> tuple[str, ...]:
        return self.numeric + tuple(self.categorical)

    @property
    def feature_names(self) -> tuple[str, ...]:
        one_hot = tuple(f"{name}={value}" for name, values in self.categorical.items() for value in values)
        return self.numeric + one_hot

    @property
    def n_features(self) -> int:
        return len(self.numeric) + sum(len(v) for v in self.categorical.values())

    def label(self, name: str) -> str:
        return self.labels.get(name) or name.replace("_", " ").capitalize()

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> FeatureSchema:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> FeatureSchema:
        raw = dict(body)
        raw["categorical"] = {k: tuple(v) for k, v in raw["categorical"].items()}
        raw["numeric"] = tuple(raw["numeric"])
        raw["grades"] = tuple((g, float(b)) for g, b in raw["grades"])
        return cls(**raw)

    @classmethod
    def load(cls, path: Path) -> FeatureSchema:
        return cls.from_json(path.read_text())


def infer_schema(rows: list[dict[str, str]], target: str, positive_label: str) -> FeatureSchema:
    """Schema of a CSV read as strings: a column is numeric when every value parses as a number."""
    if not rows:
        raise ValueError("the training data has no rows")
    if target not in rows[0]:
        raise ValueError(f"target column {target!r} is not in the data (columns: {', '.join(rows[0])})")
    labels = {r[target] for r in rows}
    if positive_label not in labels:
        raise ValueError(f"positive label {positive_label!r} not found in {target!r} (values: {sorted(labels)})")
    categorical: dict[str, tuple[str, ...]] = {}
    numeric: list[str] = []
    minimum: dict[str, float] = {}
    for name in rows[0]:
        if name == target:
            continue
        values = [r[name] for r in rows]
        try:
            numbers = [float(v) for v in values]
        except ValueError:
            categorical[name] = tuple(sorted(set(values)))
            continue
        numeric.append(name)
        # A column never negative in training (amounts, durations, ages) must not be negative in use.
        if min(numbers) >= 0:
            minimum[name] = 0.0
    return FeatureSchema(
        target=target,
        positive_label=positive_label,
        categorical=categorical,
        numeric=tuple(numeric),
        numeric_minimum=minimum,
        labels={k: v for k, v in GERMAN_CREDIT_LABELS.items() if k in rows[0]},
    )


def _as_text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def encode(schema: FeatureSchema, categorical: np.ndarray, numeric: np.ndarray) -> np.ndarray:
    """Raw columns (N×C strings or bytes, N×M numbers, in schema order) → N×F float32 features."""
    n = categorical.shape[0]
    if categorical.shape != (n, len(schema.categorical)) or numeric.shape != (n, len(schema.numeric)):
        raise EncodingError(
            "input",
            f"expected {len(schema.categorical)} categorical and {len(schema.numeric)} numeric columns, "
            f"got shapes {categorical.shape} and {numeric.shape}",
        )
    features = np.zeros((n, schema.n_features), dtype=np.float32)
    numeric = numeric.astype(np.float32, copy=False)
    for j, name in enumerate(schema.numeric):
        column = numeric[:, j]
        if not np.isfinite(column).all():
            raise EncodingError(name, "must be a finite number")
        bound = schema.numeric_minimum.get(name)
        if bound is not None and (column < bound).any():
            raise EncodingError(name, f"must be >= {bound:g}")
    features[:, : len(schema.numeric)] = numeric
    offset = len(schema.numeric)
    rows = np.arange(n)
    for j, (name, values) in enumerate(schema.categorical.items()):
        lookup = _lookup(name, values)
        try:
            index = [lookup[v] for v in categorical[:, j]]
        except KeyError as exc:
            raise EncodingError(
                name, f"unknown value {_as_text(exc.args[0])!r}; expected one of {list(values)}"
            ) from None
        features[rows, offset + np.asarray(index, dtype=np.int64)] = 1.0
        offset += len(values)
    return features


_LOOKUPS: dict[tuple[str, tuple[str, ...]], dict[object, int]] = {}


def _lookup(name: str, values: tuple[str, ...]) -> dict[object, int]:
    # Triton hands strings over as bytes, Python callers as str: accept both without converting.
    key = (name, values)
    if key not in _LOOKUPS:
        table: dict[object, int] = {v: i for i, v in enumerate(values)}
        table.update({v.encode(): i for i, v in enumerate(values)})
        _LOOKUPS[key] = table
    return _LOOKUPS[key]


def aggregation_matrix(schema: FeatureSchema) -> np.ndarray:
    """F×R matrix summing one-hot columns into the raw feature they came from."""
    matrix = np.zeros((schema.n_features, len(schema.raw_features)), dtype=np.float32)
    for i in range(len(schema.numeric)):
        matrix[i, i] = 1.0
    offset = len(schema.numeric)
    for r, values in enumerate(schema.categorical.values(), start=len(schema.numeric)):
        matrix[offset : offset + len(values), r] = 1.0
        offset += len(values)
    return matrix


def grade(schema: FeatureSchema, probability: np.ndarray) -> np.ndarray:
    bounds = np.array([b for _, b in schema.grades[:-1]], dtype=np.float64)
    letters = np.array([g for g, _ in schema.grades], dtype=object)
    return letters[np.searchsorted(bounds, probability, side="right")]


@dataclass(frozen=True)
class Reasons:
    """Top-k adverse-action reasons per row; rows with fewer risk-raising features pad with ''."""

    feature: np.ndarray  # N×k object (str)
    value: np.ndarray  # N×k object (str)
    contribution: np.ndarray  # N×k float32, log-odds
    text: np.ndarray  # N×k object (str)


def format_value(value: object) -> str:
    if isinstance(value, float | np.floating):
        return f"{float(value):g}"
    return _as_text(value)


def reason_codes(
    schema: FeatureSchema,
    contributions: np.ndarray,
    categorical: np.ndarray,
    numeric: np.ndarray,
    k: int,
) -> Reasons:
    """The k raw features that raised the risk most (TreeSHAP, summed over one-hot columns)."""
    raw = contributions[:, : schema.n_features] @ aggregation_matrix(schema)
    order = np.argsort(-raw, axis=1, kind="stable")[:, :k]
    n = raw.shape[0]
    shape = (n, k)
    feature = np.full(shape, "", dtype=object)
    value = np.full(shape, "", dtype=object)
    text = np.full(shape, "", dtype=object)
    contribution = np.zeros(shape, dtype=np.float32)
    names = schema.raw_features
    n_numeric = len(schema.numeric)
    for i in range(n):
        for slot, r in enumerate(order[i]):
            c = float(raw[i, r])
            if not c > 0:
                break
            name = names[r]
            shown = format_value(numeric[i, r] if r < n_numeric else categorical[i, r - n_numeric])
            feature[i, slot] = name
            value[i, slot] = shown
            contribution[i, slot] = c
            text[i, slot] = f"{schema.label(name)} ({shown}) raises the risk of default"
    return Reasons(feature=feature, value=value, contribution=contribution, text=text)


def tree_contributions(booster: Any, features: np.ndarray) -> np.ndarray:
    """TreeSHAP contributions (log-odds) of an XGBoost booster: N×(F+1), the last column the bias."""
    import xgboost

    return booster.predict(xgboost.DMatrix(features), pred_contribs=True)

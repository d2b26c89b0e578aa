"""Credit-risk family: XGBoost on any CSV with a declared target, served as `risk_score`.

Pipeline: risk_features (encode raw fields) → risk_model (ONNX trees: probability of default)
→ risk_reasons (grade + TreeSHAP reason codes).
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import onnx

from finfer import paths
from finfer.exporters.base import Exporter, Profile, Progress, Trained, onnx_spec
from finfer.exporters.model_config import Flavour, ModelSpec, Tensor
from finfer.exporters.onnx_tools import xgboost_classifier
from finfer.models.drift import psi as drift
from finfer.models.risk import scoring as risk

REASONS_K = 4


@dataclass(frozen=True)
class TreeParams:
    n_estimators: int
    max_depth: int
    learning_rate: float
    folds: int


PARAMS = {
    Profile.FULL: TreeParams(n_estimators=100, max_depth=3, learning_rate=0.08, folds=5),
    Profile.SMALL: TreeParams(n_estimators=40, max_depth=3, learning_rate=0.15, folds=3),
}
SEED = 7


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def columns(schema: risk.FeatureSchema, rows: list[dict[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    """Raw rows → (categorical N×C object, numeric N×M float32) in schema order."""
    categorical = np.array([[r[c] for c in schema.categorical] for r in rows], dtype=object).reshape(
        len(rows), len(schema.categorical)
    )
    numeric = np.array([[float(r[c]) for c in schema.numeric] for r in rows], dtype=np.float32).reshape(
        len(rows), len(schema.numeric)
    )
    return categorical, numeric


def classifier(params: TreeParams):
    import xgboost

    return xgboost.XGBClassifier(
        n_estimators=params.n_estimators,
        max_depth=params.max_depth,
        learning_rate=params.learning_rate,
        subsample=0.8,
        colsample_bytree=0.5,
        min_child_weight=1.0,
        reg_lambda=1.0,
        n_jobs=2,
        random_state=SEED,
        eval_metric="logloss",
    )


def cross_validate(
    features: np.ndarray, labels: np.ndarray, params: TreeParams, progress: Progress
) -> tuple[dict, np.ndarray]:
    """Out-of-fold predictions of a stratified k-fold: ROC AUC and Brier score on held-out rows, and the
    predictions themselves (what live scores look like, unlike the final model's own training rows)."""
    from sklearn.metrics import brier_score_loss, roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    out_of_fold = np.zeros(len(labels))
    folds = StratifiedKFold(n_splits=params.folds, shuffle=True, random_state=SEED)
    fold_auc = []
    for i, (train, test) in enumerate(folds.split(features, labels), start=1):
        model = classifier(params).fit(features[train], labels[train])
        out_of_fold[test] = model.predict_proba(features[test])[:, 1]
        fold_auc.append(float(roc_auc_score(labels[test], out_of_fold[test])))
        progress(f"[risk] fold {i}/{params.folds}: ROC AUC {fold_auc[-1]:.3f}")
    quality = {
        "cv_folds": params.folds,
        "cv_roc_auc": float(roc_auc_score(labels, out_of_fold)),
        "cv_roc_auc_per_fold": fold_auc,
        "cv_brier": float(brier_score_loss(labels, out_of_fold)),
        "base_rate": float(labels.mean()),
    }
    return quality, out_of_fold


def drift_reference(schema: risk.FeatureSchema, rows: list[dict[str, str]], scores: np.ndarray) -> bytes:
    """The training distribution of every input field and of the (out-of-fold) probability of default."""
    columns: dict[str, list] = {name: [float(r[name]) for r in rows] for name in schema.numeric}
    columns.update({name: [r[name] for r in rows] for name in schema.categorical})
    return drift.card(columns, {"probability_of_default": scores.tolist()}, categorical=schema.categorical)


class RiskExporter(Exporter):
    family = "risk"
    onnx_model = "risk_model"
    ensembles = ("risk_score",)
    parity_tolerance = 1e-5

    def __init__(
        self,
        csv_path: Path = paths.GERMAN_CREDIT_CSV,
        target: str = "creditability",
        positive_label: str = "bad",
    ) -> None:
        self.csv_path = csv_path
        self.target = target
        self.positive_label = positive_label

    def train(self, profile: Profile, progress: Progress) -> Trained:
        rows = read_csv(self.csv_path)
        schema = risk.infer_schema(rows, self.target, self.positive_label)
        categorical, numeric = columns(schema, rows)
        features = risk.encode(schema, categorical, numeric)
        labels = np.array([r[self.target] == self.positive_label for r in rows], dtype=np.int64)
        params = PARAMS[profile]
        progress(f"[risk] {len(rows)} rows, {schema.n_features} features from {self.csv_path.name}")
        quality, out_of_fold = cross_validate(features, labels, params, progress)
        model = classifier(params).fit(features, labels)
        booster = model.get_booster()
        raw = booster.save_raw(raw_format="json")
        version = "risk-" + hashlib.sha256(bytes(raw)).hexdigest()[:12]
        schema = replace(schema, model_version=version)
        schema_json = schema.to_json().encode()
        sample = features[:256]
        return Trained(
            model=model,
            parity_inputs={"features": sample},
            parity_expected={"probability_of_default": model.predict_proba(sample)[:, 1:2]},
            metrics={
                "trained_on": {
                    "data": self.csv_path.name,
                    "rows": len(rows),
                    "target": self.target,
                    "positive_label": self.positive_label,
                },
                "quality": quality,
                "params": params.__dict__,
                "features": schema.n_features,
            },
            files={
                "risk_features": {
                    "schema.json": schema_json,
                    drift.REFERENCE_FILE: drift_reference(schema, rows, out_of_fold),
                },
                "risk_reasons": {"schema.json": schema_json, "booster.json": bytes(raw)},
            },
            model_version=version,
        )

    def to_onnx(self, trained: Trained) -> onnx.ModelProto:
        n_features = trained.parity_inputs["features"].shape[1]
        return xgboost_classifier(trained.model, n_features, "probability_of_default")

    def model_specs(self, trained: Trained, flavour: Flavour) -> list[ModelSpec]:
        schema = risk.FeatureSchema.from_json(trained.files["risk_features"]["schema.json"].decode())
        categorical = Tensor("categorical_features", "STRING", (len(schema.categorical),))
        numeric = Tensor("numeric_features", "FP32", (len(schema.numeric),))
        features = Tensor("features", "FP32", (schema.n_features,))
        probability = Tensor("probability_of_default", "FP32", (1,))
        reasons = (
            Tensor("grade", "STRING", (1,)),
            Tensor("reason_feature", "STRING", (REASONS_K,)),
            Tensor("reason_value", "STRING", (REASONS_K,)),
            Tensor("reason_contribution", "FP32", (REASONS_K,)),
            Tensor("reason_text", "STRING", (REASONS_K,)),
        )
        return [
            ModelSpec(name="risk_features", inputs=(categorical, numeric), outputs=(features,)),
            onnx_spec("risk_model", (features,), (probability,), flavour),
            ModelSpec(
                name="risk_reasons",
                inputs=(features, probability, categorical, numeric),
                outputs=reasons,
                parameters=(("reasons_k", str(REASONS_K)),),
            ),
        ]

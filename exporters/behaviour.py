"""Behaviour family: a loan's probability of default the month after its latest statement, served as `behaviour_score`.

Pipeline: behaviour_features (the window of statements → features) → behaviour_model (ONNX trees) →
behaviour_reasons (TreeSHAP reason groups). The loan's statements live in the front's store; each request
carries the window (docs/pipelines.md says why).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx

from finfer import paths
from finfer.exporters.base import Exporter, Profile, Progress, Trained, onnx_spec
from finfer.exporters.model_config import Flavour, ModelSpec, Tensor
from finfer.exporters.onnx_tools import xgboost_classifier
from finfer.models.behaviour.features import FEATURE_NAMES, MONTHS
from finfer.models.drift import psi as drift

REASONS_K = 4
META_FILE = "meta.json"


def drift_reference(cards, scores: np.ndarray) -> bytes:
    """What the front watches drift on: the origination fields and the latest month as a served loan sends them
    (every training loan at six months), and the probability of default."""
    inputs = {
        "limit": cards.limit.tolist(),
        "age": cards.age.tolist(),
        "status_0": cards.status[:, -1].tolist(),
        "balance_0": cards.balance[:, -1].tolist(),
        "paid_0": cards.paid[:, -1].tolist(),
    }
    return drift.card(inputs, {"probability_of_default": scores.tolist()})


class BehaviourExporter(Exporter):
    family = "behaviour"
    onnx_model = "behaviour_model"
    ensembles = ("behaviour_score",)
    parity_tolerance = 1e-5

    def __init__(self, csv_path: Path = paths.TAIWAN_CARDS_CSV) -> None:
        # Another month of outcomes, in the shipped file's columns: a candidate version (finfer build --version 2).
        self.csv_path = csv_path

    def train(self, profile: Profile, progress: Progress) -> Trained:
        from finfer.models.behaviour.training import cards as card_data
        from finfer.models.behaviour.training.evaluation import WARNING_THRESHOLD
        from finfer.models.behaviour.training.model import PARAMS, held_out, split, train

        train_set, test_set = split(card_data.load(self.csv_path))
        params = PARAMS[str(profile)]
        progress(f"[behaviour] {len(train_set)} loans × {MONTHS + 1} history lengths, {params.n_estimators} trees")
        model = train(train_set, params)
        progress("[behaviour] scoring the held-out loans")
        quality = held_out(model, test_set, WARNING_THRESHOLD)
        raw = bytes(model.get_booster().save_raw(raw_format="json"))
        version = "behaviour-" + hashlib.sha256(raw).hexdigest()[:12]
        meta = {"model_version": version, "features": list(FEATURE_NAMES), "months": MONTHS}
        sample = np.vstack([test_set.history(months)[:40] for months in range(MONTHS + 1)])
        held_out_scores = model.predict_proba(test_set.history(MONTHS))[:, 1]
        return Trained(
            model=model,
            parity_inputs={"features": sample},
            parity_expected={"probability_of_default": model.predict_proba(sample)[:, 1:2]},
            metrics={
                "trained_on": {"data": self.csv_path.name, "loans": len(train_set)},
                "held_out": quality,
                "params": params.__dict__,
                "features": len(FEATURE_NAMES),
            },
            files={
                "behaviour_features": {
                    META_FILE: json.dumps(meta).encode(),
                    drift.REFERENCE_FILE: drift_reference(test_set, held_out_scores),
                },
                "behaviour_reasons": {"booster.json": raw},
            },
            model_version=version,
        )

    def to_onnx(self, trained: Trained) -> onnx.ModelProto:
        return xgboost_classifier(trained.model, len(FEATURE_NAMES), "probability_of_default")

    def model_specs(self, trained: Trained, flavour: Flavour) -> list[ModelSpec]:
        origination = Tensor("origination", "FP32", (3,))
        window = tuple(Tensor(name, "FP32", (MONTHS,)) for name in ("status", "balance", "paid"))
        features = Tensor("features", "FP32", (len(FEATURE_NAMES),))
        probability = Tensor("probability_of_default", "FP32", (1,))
        reasons = (
            Tensor("reason_feature", "STRING", (REASONS_K,)),
            Tensor("reason_value", "STRING", (REASONS_K,)),
            Tensor("reason_contribution", "FP32", (REASONS_K,)),
            Tensor("reason_text", "STRING", (REASONS_K,)),
        )
        return [
            ModelSpec(name="behaviour_features", inputs=(origination, *window), outputs=(features,)),
            onnx_spec("behaviour_model", (features,), (probability,), flavour),
            ModelSpec(
                name="behaviour_reasons",
                inputs=(features,),
                outputs=reasons,
                parameters=(("reasons_k", str(REASONS_K)),),
            ),
        ]

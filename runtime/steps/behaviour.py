"""The behaviour pipeline's Python steps, as Triton runs them (the build points each model folder here)."""

import xgboost

from finfer.models.behaviour import reasons as behaviour
from finfer.models.behaviour.features import FEATURE_NAMES, encode_many
from finfer.models.risk import treeshap
from finfer.runtime.python_model import BatchedPythonModel


class BehaviourFeatures(BatchedPythonModel):
    """behaviour_features: origination fields and the window of statements → the model's features."""

    def setup(self, version_dir, parameters, args):
        pass

    def compute(self, inputs):
        origination = inputs["origination"]
        features = encode_many(
            origination[:, 0], origination[:, 1], origination[:, 2], inputs["status"], inputs["balance"], inputs["paid"]
        )
        return {"features": features}


class BehaviourReasons(BatchedPythonModel):
    """behaviour_reasons: TreeSHAP contributions summed into the reasons a collector reads."""

    def setup(self, version_dir, parameters, args):
        self.k = int(parameters["reasons_k"])
        booster = xgboost.Booster()
        booster.load_model(bytearray((version_dir / "booster.json").read_bytes()))
        booster.set_param({"nthread": 1})
        self.shap = treeshap.build(booster, len(FEATURE_NAMES))
        if self.shap is None:
            raise ValueError("behaviour_reasons: the trees are too deep for TreeSHAP tables (depth 3 at most)")

    def compute(self, inputs):
        features = inputs["features"]
        found = behaviour.reason_codes(features, self.shap.contributions(features), self.k)
        return {
            "reason_feature": found.feature,
            "reason_value": found.value,
            "reason_contribution": found.contribution,
            "reason_text": found.text,
        }

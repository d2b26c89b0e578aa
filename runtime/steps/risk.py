"""The risk pipeline's Python steps, as Triton runs them (the build points each model folder here)."""

import xgboost

from finfer.models.risk import scoring as risk
from finfer.models.risk import treeshap
from finfer.runtime.python_model import BatchedPythonModel


class RiskFeatures(BatchedPythonModel):
    """risk_features: raw applicant columns → the model's one-hot feature vector (finfer.models.risk.scoring.encode)."""

    def setup(self, version_dir, parameters, args):
        self.schema = risk.FeatureSchema.load(version_dir / "schema.json")

    def compute(self, inputs):
        features = risk.encode(self.schema, inputs["categorical_features"], inputs["numeric_features"])
        return {"features": features}


class RiskReasons(BatchedPythonModel):
    """risk_reasons: probability → grade, and TreeSHAP contributions → adverse-action reason codes."""

    def setup(self, version_dir, parameters, args):
        self.schema = risk.FeatureSchema.load(version_dir / "schema.json")
        self.k = int(parameters["reasons_k"])
        self.booster = xgboost.Booster()
        self.booster.load_model(bytearray((version_dir / "booster.json").read_bytes()))
        self.booster.set_param({"nthread": 1})
        # TreeSHAP as table look-ups where the trees are shallow enough; XGBoost's own pred_contribs otherwise.
        self.shap = treeshap.build(self.booster, self.schema.n_features)

    def compute(self, inputs):
        features = inputs["features"]
        if self.shap is not None:
            contributions = self.shap.contributions(features)
        else:
            contributions = risk.tree_contributions(self.booster, features)
        reasons = risk.reason_codes(
            self.schema, contributions, inputs["categorical_features"], inputs["numeric_features"], self.k
        )
        probability = inputs["probability_of_default"][:, 0]
        return {
            "grade": risk.grade(self.schema, probability).reshape(-1, 1),
            "reason_feature": reasons.feature,
            "reason_value": reasons.value,
            "reason_contribution": reasons.contribution,
            "reason_text": reasons.text,
        }

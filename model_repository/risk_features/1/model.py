"""risk_features: raw applicant columns → the model's one-hot feature vector (finfer.models.risk.encode)."""

from finfer.models import risk
from finfer.runtime.python_model import BatchedPythonModel


class TritonPythonModel(BatchedPythonModel):
    def setup(self, version_dir, parameters, args):
        self.schema = risk.FeatureSchema.load(version_dir / "schema.json")

    def compute(self, inputs):
        features = risk.encode(self.schema, inputs["categorical_features"], inputs["numeric_features"])
        return {"features": features}

"""damage_labels: class probabilities → the damage type and severity names."""

import json

import numpy as np

from finfer.runtime.python_model import BatchedPythonModel


class TritonPythonModel(BatchedPythonModel):
    def setup(self, version_dir, parameters, args):
        meta = json.loads((version_dir / "meta.json").read_text())
        self.types = np.array([t.encode() for t in meta["damage_types"]], dtype=np.object_)
        self.severities = np.array([s.encode() for s in meta["severities"]], dtype=np.object_)

    def compute(self, inputs):
        types = self.types[inputs["type_probabilities"].argmax(1)]
        severities = self.severities[inputs["severity_probabilities"].argmax(1)]
        return {"damage_type": types.reshape(-1, 1), "severity": severities.reshape(-1, 1)}

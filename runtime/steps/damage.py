"""The damage pipeline's Python steps, as Triton runs them (the build points each model folder here)."""

import json

import numpy as np

from finfer.models.damage.classify import classifier_input
from finfer.models.images.pixels import decode_image
from finfer.runtime.python_model import BatchedPythonModel


class DamagePreprocess(BatchedPythonModel):
    """damage_preprocess: encoded JPEG/PNG photos → [3, 96, 96] classifier inputs (a bad image fails alone)."""

    def setup(self, version_dir, parameters, args):
        pass

    def compute(self, inputs):
        images = [decode_image(data) for data in inputs["image"].reshape(-1)]
        return {"pixels": np.stack([classifier_input(image) for image in images])}


class DamageLabels(BatchedPythonModel):
    """damage_labels: class probabilities → the damage type and severity names."""

    def setup(self, version_dir, parameters, args):
        meta = json.loads((version_dir / "meta.json").read_text())
        self.types = np.array([t.encode() for t in meta["damage_types"]], dtype=np.object_)
        self.severities = np.array([s.encode() for s in meta["severities"]], dtype=np.object_)

    def compute(self, inputs):
        types = self.types[inputs["type_probabilities"].argmax(1)]
        severities = self.severities[inputs["severity_probabilities"].argmax(1)]
        return {"damage_type": types.reshape(-1, 1), "severity": severities.reshape(-1, 1)}

"""damage_preprocess: encoded JPEG/PNG photos → [3, 96, 96] classifier inputs (a bad image fails alone)."""

import numpy as np

from finfer.models.damage_images import classifier_input
from finfer.models.ocr_pipeline import decode_image
from finfer.runtime.python_model import BatchedPythonModel


class TritonPythonModel(BatchedPythonModel):
    def setup(self, version_dir, parameters, args):
        pass

    def compute(self, inputs):
        images = [decode_image(data) for data in inputs["image"].reshape(-1)]
        return {"pixels": np.stack([classifier_input(image) for image in images])}

"""ocr_crop: the text-probability map → line boxes (DB post-processing) and the lines as one recogniser batch."""

import numpy as np

from finfer.models.ocr_pipeline import boxes_from_probability, crop, recognizer_batch
from finfer.runtime.python_model import BatchedPythonModel


class TritonPythonModel(BatchedPythonModel):
    def setup(self, version_dir, parameters, args):
        pass

    def compute(self, inputs):
        image = inputs["pixels"]
        boxes, _ = boxes_from_probability(inputs["text_probability"][0, 0], inputs["scale"])
        lines = recognizer_batch([crop(image, box) for box in boxes])
        return {"line_pixels": lines, "boxes": boxes.astype(np.float32)}

"""ocr_crop: the text-probability map → line boxes (DB post-processing) and the lines as recogniser
batches, narrow and wide, each padded to its own width bucket."""

import numpy as np

from finfer.models.ocr_pipeline import boxes_from_probability, crop, recognizer_groups
from finfer.runtime.python_model import BatchedPythonModel


class TritonPythonModel(BatchedPythonModel):
    def setup(self, version_dir, parameters, args):
        pass

    def compute(self, inputs):
        image = inputs["pixels"]
        boxes, _ = boxes_from_probability(inputs["text_probability"][0, 0], inputs["scale"])
        batches, order, sizes = recognizer_groups([crop(image, box) for box in boxes])
        out = {f"line_pixels_{i}": batch for i, batch in enumerate(batches)}
        return {**out, "line_order": order, "group_sizes": sizes, "boxes": boxes.astype(np.float32)}

"""The ocr pipeline's Python steps, as Triton runs them (the build points each model folder here)."""

import json

import numpy as np

from finfer.models.documents.classifier import FILE as CLASSIFIER_FILE
from finfer.models.documents.classifier import KindClassifier
from finfer.models.documents.page import page_reading
from finfer.models.images.pixels import decode_image
from finfer.models.ocr.pipeline import (
    REC_GROUPS,
    boxes_from_probability,
    crop,
    decode_groups,
    detector_input,
    recognizer_groups,
    to_lines,
)
from finfer.runtime.python_model import BatchedPythonModel


class OcrPreprocess(BatchedPythonModel):
    """ocr_preprocess: one encoded JPEG/PNG → the detector's input, the decoded pixels and the scale back."""

    def setup(self, version_dir, parameters, args):
        pass

    def compute(self, inputs):
        image = decode_image(inputs["image"].reshape(-1)[0])
        pixels, scale = detector_input(image)
        return {"detector_input": pixels, "pixels": image, "scale": scale}


class OcrCrop(BatchedPythonModel):
    """ocr_crop: the text-probability map → line boxes (DB post-processing) and the lines as recogniser
    batches, narrow and wide, each padded to its own width bucket."""

    def setup(self, version_dir, parameters, args):
        pass

    def compute(self, inputs):
        image = inputs["pixels"]
        boxes, _ = boxes_from_probability(inputs["text_probability"][0, 0], inputs["scale"])
        batches, order, sizes = recognizer_groups([crop(image, box) for box in boxes])
        out = {f"line_pixels_{i}": batch for i, batch in enumerate(batches)}
        return {**out, "line_order": order, "group_sizes": sizes, "boxes": boxes.astype(np.float32)}


class OcrRead(BatchedPythonModel):
    """ocr_read: CTC probabilities → the lines' text and confidence, and the page's reading (as JSON):
    the kind recognised from the text, and the fields of that kind."""

    def setup(self, version_dir, parameters, args):
        self.characters = json.loads((version_dir / "meta.json").read_text(encoding="utf-8"))["characters"]
        self.classifier = KindClassifier.load(version_dir / CLASSIFIER_FILE)

    def compute(self, inputs):
        probabilities = [inputs[f"char_probabilities_{i}"] for i in range(REC_GROUPS)]
        decoded = decode_groups(probabilities, inputs["line_order"], inputs["group_sizes"], self.characters)
        lines = to_lines(decoded, inputs["boxes"])
        reading = page_reading(self.classifier, lines).to_dict()
        return {
            "text": np.array([line.text.encode() for line in lines], dtype=np.object_),
            "confidence": np.array([line.confidence for line in lines], dtype=np.float32),
            "box": np.array([line.box for line in lines], dtype=np.float32).reshape(-1, 4, 2),
            "reading": np.array([json.dumps(reading, ensure_ascii=False).encode()], dtype=np.object_),
        }

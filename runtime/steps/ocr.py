"""The ocr pipeline's Python steps, as Triton runs them (the build points each model folder here)."""

import json

import numpy as np

from finfer.models.images.pixels import decode_image
from finfer.models.ocr.fields import extract_fields
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
    """ocr_read: CTC probabilities → the lines' text and confidence, and the fields found in them (as JSON)."""

    def setup(self, version_dir, parameters, args):
        self.characters = json.loads((version_dir / "meta.json").read_text(encoding="utf-8"))["characters"]

    def compute(self, inputs):
        probabilities = [inputs[f"char_probabilities_{i}"] for i in range(REC_GROUPS)]
        decoded = decode_groups(probabilities, inputs["line_order"], inputs["group_sizes"], self.characters)
        lines = to_lines(decoded, inputs["boxes"])
        fields = {name: field.to_dict() if field else None for name, field in extract_fields(lines).items()}
        return {
            "text": np.array([line.text.encode() for line in lines], dtype=np.object_),
            "confidence": np.array([line.confidence for line in lines], dtype=np.float32),
            "box": np.array([line.box for line in lines], dtype=np.float32).reshape(-1, 4, 2),
            "fields": np.array([json.dumps(fields, ensure_ascii=False).encode()], dtype=np.object_),
        }

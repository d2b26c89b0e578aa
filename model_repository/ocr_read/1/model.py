"""ocr_read: CTC probabilities → the lines' text and confidence, and the fields found in them (as JSON)."""

import json

import numpy as np

from finfer.models.ocr_fields import extract_fields
from finfer.models.ocr_pipeline import ctc_decode, to_lines
from finfer.runtime.python_model import BatchedPythonModel


class TritonPythonModel(BatchedPythonModel):
    def setup(self, version_dir, parameters, args):
        self.characters = json.loads((version_dir / "meta.json").read_text(encoding="utf-8"))["characters"]

    def compute(self, inputs):
        boxes = inputs["boxes"]
        decoded = ctc_decode(inputs["char_probabilities"][: len(boxes)], self.characters)
        lines = to_lines(decoded, boxes)
        fields = {name: field.to_dict() if field else None for name, field in extract_fields(lines).items()}
        return {
            "text": np.array([line.text.encode() for line in lines], dtype=np.object_),
            "confidence": np.array([line.confidence for line in lines], dtype=np.float32),
            "box": np.array([line.box for line in lines], dtype=np.float32).reshape(-1, 4, 2),
            "fields": np.array([json.dumps(fields, ensure_ascii=False).encode()], dtype=np.object_),
        }

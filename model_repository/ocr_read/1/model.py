"""ocr_read: CTC probabilities → the lines' text and confidence, and the fields found in them (as JSON)."""

import json

import numpy as np

from finfer.models.ocr_fields import extract_fields
from finfer.models.ocr_pipeline import REC_GROUPS, decode_groups, to_lines
from finfer.runtime.python_model import BatchedPythonModel


class TritonPythonModel(BatchedPythonModel):
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

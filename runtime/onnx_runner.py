"""The embedded flavour's one runner for every ONNX model: onnxruntime inside Triton's Python backend.

A model folder uses it with a one-line `model.py` (written by the exporter). On a GPU node it
prefers the TensorRT and CUDA execution providers when onnxruntime offers them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from finfer.runtime.batching import Arrays
from finfer.runtime.onnx_session import run_options, session_for
from finfer.runtime.python_model import BatchedPythonModel


class TritonPythonModel(BatchedPythonModel):
    def setup(self, version_dir: Path, parameters: dict[str, str], args: dict[str, Any]) -> None:
        filename = parameters.get("onnx_file", "model.onnx")
        threads = int(parameters.get("intra_op_threads", "1"))
        free_shapes = parameters.get("free_shapes") == "true"
        kind = args.get("model_instance_kind", "CPU")
        self.session = session_for(version_dir / filename, threads, kind, free_shapes)
        self.run_options = run_options(free_shapes)

    def compute(self, inputs: Arrays) -> Mapping[str, np.ndarray]:
        outputs = self.session.run(self.output_names, inputs, self.run_options)
        return dict(zip(self.output_names, outputs, strict=True))

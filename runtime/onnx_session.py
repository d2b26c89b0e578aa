"""The one way finfer opens an onnxruntime session: thread counts pinned, GPU providers only where asked and offered.

Pinned threads matter on few cores: onnxruntime's default spawns a thread per core in every session,
and several sessions (Triton instances, the bench's load generator) then fight over the same cores.
"""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort


def session_for(model: Path | bytes, threads: int = 1, kind: str = "CPU") -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    wanted = ["CPUExecutionProvider"]
    if kind == "GPU":
        available = ort.get_available_providers()
        wanted = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in available] + wanted
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=wanted)

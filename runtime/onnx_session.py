"""The one way finfer opens an onnxruntime session: thread counts pinned, GPU providers only where asked and offered.

Pinned threads matter on few cores: onnxruntime's default spawns a thread per core in every session,
and several sessions (Triton instances, the bench's load generator) then fight over the same cores.
"""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort


def session_for(
    model: Path | bytes, threads: int = 1, kind: str = "CPU", free_shapes: bool = False
) -> ort.InferenceSession:
    """`free_shapes`: inputs whose sizes vary without bound (a document page's height and width). onnxruntime
    then plans memory per shape and its arena keeps the largest blocks any shape asked for: the OCR detector
    grew 18% over a 10-minute soak with both on (`finfer soak`). Such a model plans nothing and is run with
    `run_options(free_shapes=True)`, which hands the arena back after each run."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.enable_mem_pattern = not free_shapes
    if threads > 1:
        # A pool's idle threads spin by default: with several instances on few cores they burn the cores the
        # other instances' work needs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    wanted = ["CPUExecutionProvider"]
    if kind == "GPU":
        available = ort.get_available_providers()
        wanted = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in available] + wanted
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=wanted)


def run_options(free_shapes: bool = False) -> ort.RunOptions:
    options = ort.RunOptions()
    if free_shapes:
        options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return options

"""The shared adapter of finfer's Python-backend models: Triton requests in, numpy to a plain function, tensors out.

Subclasses load their state in `setup` and hold the math in `compute`; only this module knows Triton, and
`initialize` and `compute` run without it (a fused pipeline's steps, the bench's in-process baselines).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from finfer.runtime.batching import Arrays, run_batched, run_each
from finfer.runtime.cpu_priority import to_background

try:
    import triton_python_backend_utils as pb_utils
except ImportError:  # outside Triton: the bench's in-process baselines run the same steps, with no Triton types
    pb_utils = None


# Set in `args` when a step is loaded into a fused pipeline's process rather than by Triton.
IN_PIPELINE = "finfer_in_pipeline"


class BatchedPythonModel:
    def initialize(self, args: dict[str, Any]) -> None:
        config = json.loads(args["model_config"])
        self.input_names = [t["name"] for t in config["input"]]
        self.output_names = [t["name"] for t in config["output"]]
        # Without a batch dimension (a graph of variable size, say) requests cannot be concatenated.
        self.run = run_batched if config.get("max_batch_size", 0) > 0 else run_each
        self.version_dir = Path(args["model_repository"]) / args["model_version"]
        parameters = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        self.setup(self.version_dir, parameters, args)
        self.background = parameters.get("cpu_priority") == "background"
        # After loading, not before: a stub loading in the background class under load never finished (a
        # replica restarted in the chaos drill was not ready after 180 s). A fused pipeline's steps leave the
        # switch to the pipeline's model, once all of them are loaded (runtime/fused.py).
        if self.background and IN_PIPELINE not in args:
            to_background()

    def setup(self, version_dir: Path, parameters: dict[str, str], args: dict[str, Any]) -> None:
        raise NotImplementedError

    def compute(self, inputs: Arrays) -> Mapping[str, np.ndarray]:
        raise NotImplementedError

    def execute(self, requests: list[Any]) -> list[Any]:
        unpacked = [
            {name: pb_utils.get_input_tensor_by_name(r, name).as_numpy() for name in self.input_names} for r in requests
        ]
        try:
            results = self.run(self.compute, unpacked)
        except ConnectionError as exc:
            # A store the model depends on is down (the shared fraud graph's Redis): UNAVAILABLE, which the
            # front retries on another replica and otherwise answers with 503, not a failed model.
            # One error object a response: the backend frees each with its response (a shared one crashes Triton).
            code = pb_utils.TritonError.UNAVAILABLE
            return [pb_utils.InferenceResponse(error=pb_utils.TritonError(str(exc), code)) for _ in requests]
        responses = []
        for result in results:
            if isinstance(result, Exception):
                error = pb_utils.TritonError(str(result), pb_utils.TritonError.INVALID_ARG)
                responses.append(pb_utils.InferenceResponse(error=error))
            else:
                tensors = [pb_utils.Tensor(name, result[name]) for name in self.output_names]
                responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return responses

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

try:
    import triton_python_backend_utils as pb_utils
except ImportError:  # outside Triton: the bench's in-process baselines run the same steps, with no Triton types
    pb_utils = None


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

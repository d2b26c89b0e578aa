"""The embedded flavour's pipelines: an ensemble's steps run one after another in one Python model.

The embedded Triton has only the Python backend, so an ensemble of it is a stub process per step: a
shared-memory round trip and a batcher's queue at every step, three of each for `risk_score`. A fused
model runs the very same step classes in its own process instead, passing tensors as the ensemble's
`input_map`/`output_map` say: one hop and one batcher a pipeline. The build writes the ensemble's steps and
their configs beside it (`pipeline.json`), so the ensemble stays the one definition of the pipeline; the native
flavour (ONNX Runtime, TensorRT backends) serves that ensemble as it is.
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from finfer.runtime import in_process
from finfer.runtime.batching import Arrays
from finfer.runtime.cpu_priority import to_background
from finfer.runtime.python_model import IN_PIPELINE, BatchedPythonModel, pb_utils
from finfer.runtime.tally import Tally


@dataclass(frozen=True)
class Step:
    name: str
    model: BatchedPythonModel
    input_map: dict[str, str]  # the step's tensor → the pipeline's tensor it reads
    output_map: dict[str, str]  # the step's tensor → the pipeline's tensor it writes


def load_step(repository: Path, name: str, version: int, config: dict, kind: str = "CPU") -> BatchedPythonModel:
    """A step model of the repository, initialised as Triton would (its own model.py, config and version folder)."""
    folder = repository / name
    spec = importlib.util.spec_from_file_location(f"finfer_step_{name}_{version}", folder / str(version) / "model.py")
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"{folder / str(version) / 'model.py'}: no step model to run")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.TritonPythonModel()
    model.initialize(
        {
            "model_config": json.dumps(config),
            "model_repository": str(folder),
            "model_version": str(version),
            "model_instance_kind": kind,
            "model_name": name,
            IN_PIPELINE: "1",
        }
    )
    return model


def run_steps(
    steps: list[Step], inputs: Arrays, outputs: list[str], timed: Callable[[str, float], None] | None = None
) -> dict[str, np.ndarray]:
    """The pipeline's tensors, step by step, as the ensemble scheduler would route them; `timed(step, seconds)`
    hears each step's compute time."""
    tensors = dict(inputs)
    for step in steps:
        started = time.perf_counter()
        answer = step.model.compute({own: tensors[carried] for own, carried in step.input_map.items()})
        tensors.update({carried: answer[own] for own, carried in step.output_map.items()})
        if timed is not None:
            timed(step.name, time.perf_counter() - started)
    return {name: tensors[name] for name in outputs}


def load_steps(version_dir: Path, kind: str = "CPU") -> list[Step]:
    """The steps `pipeline.json` in a model's version folder names, loaded from the same repository."""
    repository = version_dir.parent.parent
    return [
        Step(
            name=step["model_name"],
            model=load_step(repository, step["model_name"], int(step["model_version"]), step["config"], kind),
            input_map=step["input_map"],
            output_map=step["output_map"],
        )
        for step in in_process.read(version_dir)
    ]


class TritonPythonModel(BatchedPythonModel):
    def setup(self, version_dir: Path, parameters: dict[str, str], args: dict[str, Any]) -> None:
        self.steps = load_steps(version_dir, args.get("model_instance_kind", "CPU"))
        if any(step.model.background for step in self.steps):
            to_background()
        self.step_seconds: Tally | None = None
        if pb_utils is not None:
            # Triton times the fused model as a whole; these say where inside it the time went, step by step
            # (`finfer bench --profile` reads them from Triton's /metrics).
            # Kept on the model: a family that is garbage-collected invalidates its metrics.
            self.step_family = pb_utils.MetricFamily(
                name="finfer_step_compute_seconds_total",
                description="Compute time of each step that a fused pipeline runs in its own process",
                kind=pb_utils.MetricFamily.COUNTER,
            )
            model = args.get("model_name", version_dir.parent.name)
            self.step_seconds = Tally(
                {s.name: self.step_family.Metric(labels={"model": model, "step": s.name}) for s in self.steps}
            )

    def compute(self, inputs: Arrays) -> Mapping[str, np.ndarray]:
        timed = self.step_seconds.add if self.step_seconds is not None else None
        return run_steps(self.steps, inputs, self.output_names, timed)

    def finalize(self) -> None:
        if self.step_seconds is not None:
            self.step_seconds.close()

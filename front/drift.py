"""Online drift: per pipeline, a sliding window of every input field and output against the training
distribution in the model card (`drift_reference.json` beside the pipeline's metadata), published as
`finfer_drift_psi{pipeline, feature}` every `step` observations.

Inputs are counted on every request the front parses; outputs on every answer the model computed (a
cache hit repeats an earlier answer, and reading it back would cost more than the accounting itself).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from finfer.front import metrics
from finfer.models.drift import psi as drift


class DriftMonitor:
    def __init__(self, pipeline: str, reference: Mapping[str, Any], size: int, step: int) -> None:
        self.pipeline = pipeline
        self.step = step
        self.inputs = {k: drift.Window(drift.from_dict(v), size) for k, v in reference["features"].items()}
        self.outputs = {k: drift.Window(drift.from_dict(v), size) for k, v in reference.get("outputs", {}).items()}
        self._since = 0

    @classmethod
    def load(cls, pipeline: str, meta: Path, size: int, step: int) -> DriftMonitor | None:
        path = meta.parent / drift.REFERENCE_FILE
        if not path.exists():
            return None
        return cls(pipeline, json.loads(path.read_text(encoding="utf-8")), size, step)

    def observe(self, inputs: Mapping[str, object], outputs: Mapping[str, object] | None) -> None:
        for name, window in self.inputs.items():
            window.add(inputs[name])
        if outputs is not None:
            for name, window in self.outputs.items():
                if name in outputs:  # a page has only its own kind's fields
                    window.add(outputs[name])
        self._since += 1
        if self._since >= self.step:
            self._since = 0
            self.publish()

    def publish(self) -> None:
        for name, window in (self.inputs | self.outputs).items():
            if window.seen:
                metrics.DRIFT_PSI.labels(self.pipeline, name).set(window.psi())

    def snapshot(self) -> dict[str, Any]:
        """Each feature's PSI and its reference and current shares by bin: what `finfer drift report` draws."""

        def one(window: drift.Window) -> dict[str, Any]:
            total = sum(window.counts) or 1
            return {
                "psi": window.psi(),
                "observed": sum(window.counts),
                "bins": window.reference.labels,
                "reference": list(window.reference.shares),
                "current": [c / total for c in window.counts],
            }

        return {
            "pipeline": self.pipeline,
            "inputs": {k: one(w) for k, w in self.inputs.items()},
            "outputs": {k: one(w) for k, w in self.outputs.items()},
        }

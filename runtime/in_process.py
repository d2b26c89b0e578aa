"""The steps a model runs in its own process (`pipeline.json` in its version folder), with no Triton imports.

The build writes the file; the fused pipelines and fraud_score read it (runtime/fused.py), and the Triton
supervisor leaves the models it names unloaded: nothing calls them through Triton, and each loaded Python
model is a stub process of its own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PIPELINE_FILE = "pipeline.json"


def write(version_dir: Path, steps: list[dict[str, Any]]) -> None:
    """`steps`: model_name, model_version, input_map, output_map and the step's config as Triton's JSON."""
    version_dir.mkdir(parents=True, exist_ok=True)
    (version_dir / PIPELINE_FILE).write_text(json.dumps({"steps": steps}, indent=2) + "\n")


def read(version_dir: Path) -> list[dict[str, Any]]:
    return json.loads((version_dir / PIPELINE_FILE).read_text())["steps"]


def steps_in_process(repository: Path) -> set[str]:
    """Every step model that some model of the repository runs in process."""
    return {step["model_name"] for found in repository.glob(f"*/*/{PIPELINE_FILE}") for step in read(found.parent)}


def models_to_load(repository: Path) -> list[str]:
    """The models Triton must load: every model folder but the steps run in process."""
    models = sorted(folder.parent.name for folder in repository.glob("*/config.pbtxt"))
    skipped = steps_in_process(repository)
    return [name for name in models if name not in skipped]

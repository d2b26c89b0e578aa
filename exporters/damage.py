"""Vehicle-damage family: a compact CNN over car-panel photos, served as the `vehicle_damage` ensemble.

Trained on procedurally generated panels (models/damage_images.py), or loaded from a user's own
checkpoint of the same architecture; either way measured on a held-out generated set.
Pipeline: damage_preprocess (decode, resize) → damage_classifier (ONNX) → damage_labels.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from finfer.exporters.base import Exporter, Profile, Progress, Trained, onnx_spec
from finfer.exporters.model_config import DynamicBatching, Flavour, ModelSpec, Tensor
from finfer.models.damage.classify import DAMAGE_TYPES, INPUT_SIZE, SEVERITIES, classifier_input
from finfer.models.damage.training.panels import panels
from finfer.models.drift import psi as drift
from finfer.models.images.pixels import decode_image

TRAIN_SEED, TEST_SEED = 1, 2


@dataclass(frozen=True)
class DamageParams:
    train_panels: int
    test_panels: int
    epochs: int


PARAMS = {
    Profile.FULL: DamageParams(train_panels=8_000, test_panels=2_000, epochs=8),
    Profile.SMALL: DamageParams(train_panels=600, test_panels=200, epochs=2),
}


def panel_set(count: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels as the served pipeline makes them (JPEG decode, resize) and the two labels."""
    rows = list(panels(count, seed))
    pixels = np.stack([classifier_input(decode_image(p.image)) for p in rows])
    return pixels, np.array([p.damage_type for p in rows]), np.array([p.severity for p in rows])


def quality(types: np.ndarray, severities: np.ndarray, truth_types: np.ndarray, truth_severities: np.ndarray) -> dict:
    from finfer.models.damage.training.model import confusion

    predicted_types, predicted_severities = types.argmax(1), severities.argmax(1)
    return {
        "panels": len(truth_types),
        "damage_type_accuracy": round(float((predicted_types == truth_types).mean()), 4),
        "severity_accuracy": round(float((predicted_severities == truth_severities).mean()), 4),
        "confusion_matrix": {
            "labels": list(DAMAGE_TYPES),
            "rows_are_truth": confusion(truth_types.tolist(), predicted_types.tolist(), DAMAGE_TYPES),
        },
        "severity_confusion_matrix": {
            "labels": list(SEVERITIES),
            "rows_are_truth": confusion(truth_severities.tolist(), predicted_severities.tolist(), SEVERITIES),
        },
    }


def drift_reference(types: np.ndarray, severities: np.ndarray) -> bytes:
    """The held-out panels' predicted damage type and severity shares (photos have no field to compare)."""
    outputs = {
        "damage_type": [DAMAGE_TYPES[i] for i in types.argmax(1)],
        "severity": [SEVERITIES[i] for i in severities.argmax(1)],
    }
    return drift.card({}, outputs, categorical=outputs)


class DamageExporter(Exporter):
    family = "damage"
    onnx_model = "damage_classifier"
    ensembles = ("vehicle_damage",)
    parity_tolerance = 1e-4
    heavy = True  # a photo is a CNN over 224x224 pixels: ms of CPU where a credit file takes µs

    def __init__(self, checkpoint: Path | None = None) -> None:
        self.checkpoint = checkpoint

    def train(self, profile: Profile, progress: Progress) -> Trained:
        import torch

        from finfer.models.damage.training import model as damage_model

        params = PARAMS[profile]
        test_pixels, test_types, test_severities = panel_set(params.test_panels, TEST_SEED)
        torch.set_num_threads(2)
        if self.checkpoint is not None:
            progress(f"[damage] loading checkpoint {self.checkpoint}")
            model, history, trained_on = damage_model.load_checkpoint(self.checkpoint), [], str(self.checkpoint)
        else:
            progress(f"[damage] generating {params.train_panels} training panels")
            pixels, types, severities = panel_set(params.train_panels, TRAIN_SEED)
            torch.manual_seed(0)
            model = damage_model.DamageNet()
            history = damage_model.train(
                model, pixels, types, severities, damage_model.TrainParams(epochs=params.epochs), progress
            )
            trained_on = f"{params.train_panels} generated panels (models/damage_images.py, seed {TRAIN_SEED})"
        probabilities = damage_model.predict(model, test_pixels)
        held_out = quality(*probabilities, test_types, test_severities)
        progress(
            f"[damage] held-out: type accuracy {held_out['damage_type_accuracy']:.4f}, "
            f"severity accuracy {held_out['severity_accuracy']:.4f}"
        )
        weights = b"".join(t.detach().numpy().tobytes() for t in model.state_dict().values())
        version = "damage-" + hashlib.sha256(weights).hexdigest()[:12]
        meta = {"model_version": version, "damage_types": list(DAMAGE_TYPES), "severities": list(SEVERITIES)}
        # Parity reuses the held-out predictions: the first 32 panels, already run through torch.
        return Trained(
            model=model,
            parity_inputs={"pixels": test_pixels[:32]},
            parity_expected={
                "type_probabilities": probabilities[0][:32],
                "severity_probabilities": probabilities[1][:32],
            },
            metrics={
                "trained_on": trained_on,
                "held_out": f"{params.test_panels} generated panels (seed {TEST_SEED}), JPEG-encoded like uploads",
                "quality": held_out,
                "training": history,
                "input_size": INPUT_SIZE,
            },
            files={
                "damage_labels": {
                    "meta.json": json.dumps(meta, indent=2).encode(),
                    drift.REFERENCE_FILE: drift_reference(*probabilities),
                }
            },
            model_version=version,
        )

    def to_onnx(self, trained: Trained) -> onnx.ModelProto:
        from finfer.models.damage.training.model import to_onnx

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.onnx"
            to_onnx(trained.model, trained.parity_inputs["pixels"], path)
            return onnx.load(path)

    def model_specs(self, trained: Trained, flavour: Flavour) -> list[ModelSpec]:
        image = Tensor("image", "STRING", (1,))
        pixels = Tensor("pixels", "FP32", (3, INPUT_SIZE, INPUT_SIZE))
        probabilities = (
            Tensor("type_probabilities", "FP32", (len(DAMAGE_TYPES),)),
            Tensor("severity_probabilities", "FP32", (len(SEVERITIES),)),
        )
        batching: dict[str, Any] = {
            "max_batch_size": 64,
            "dynamic_batching": DynamicBatching(preferred_batch_size=(8, 16, 32), max_queue_delay_microseconds=500),
        }
        return [
            ModelSpec(name="damage_preprocess", inputs=(image,), outputs=(pixels,), **batching),
            onnx_spec("damage_classifier", (pixels,), probabilities, flavour, **batching),
            ModelSpec(
                name="damage_labels",
                inputs=probabilities,
                outputs=(Tensor("damage_type", "STRING", (1,)), Tensor("severity", "STRING", (1,))),
                **batching,
            ),
        ]

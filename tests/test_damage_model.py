"""The damage CNN: generated panels, ONNX parity, a user's checkpoint, and the model card."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch

from finfer.exporters.base import Profile
from finfer.exporters.damage import DamageExporter, panel_set
from finfer.exporters.onnx_tools import run_onnx
from finfer.models.damage.classify import DAMAGE_TYPES, SEVERITIES
from finfer.models.damage.training.model import DamageNet, predict, to_onnx
from finfer.models.damage.training.panels import panels


def test_panels_are_balanced_and_deterministic():
    first, second = list(panels(40, 5)), list(panels(40, 5))
    assert [p.image for p in first] == [p.image for p in second]
    assert Counter(p.damage_type for p in first) == {t: 10 for t in range(len(DAMAGE_TYPES))}
    assert all((p.severity == 0) == (p.damage_type == 0) for p in first)


@pytest.mark.parametrize("rows", [1, 5])
def test_onnx_export_matches_torch(tmp_path, rows):
    torch.manual_seed(3)
    model = DamageNet().eval()
    pixels, _, _ = panel_set(rows, seed=11)
    path = tmp_path / "damage.onnx"
    to_onnx(model, pixels[:1], path)  # exported from one row: the batch axis must stay dynamic
    outputs = run_onnx(path, {"pixels": pixels})
    types, severities = predict(model, pixels)
    assert outputs["type_probabilities"].shape == (rows, len(DAMAGE_TYPES))
    np.testing.assert_allclose(outputs["type_probabilities"], types, atol=1e-5)
    np.testing.assert_allclose(outputs["severity_probabilities"], severities, atol=1e-5)


def test_a_users_checkpoint_is_served_as_is(tmp_path):
    torch.manual_seed(4)
    mine = DamageNet().eval()
    checkpoint = tmp_path / "mine.pt"
    torch.save(mine.state_dict(), checkpoint)
    trained = DamageExporter(checkpoint).train(Profile.SMALL, lambda _: None)
    pixels = trained.parity_inputs["pixels"]
    np.testing.assert_allclose(predict(trained.model, pixels)[0], predict(mine, pixels)[0], atol=1e-6)
    assert trained.metrics["trained_on"] == str(checkpoint) and trained.metrics["training"] == []


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path):
    checkpoint = tmp_path / "other.pt"
    torch.save({"weight": torch.zeros(3)}, checkpoint)
    with pytest.raises(RuntimeError, match="state_dict"):
        DamageExporter(checkpoint).train(Profile.SMALL, lambda _: None)


def test_model_card_has_the_confusion_matrices(repository):
    card = json.loads((repository / "damage_classifier" / "metrics.json").read_text())
    quality = card["quality"]
    matrix = quality["confusion_matrix"]["rows_are_truth"]
    assert quality["confusion_matrix"]["labels"] == list(DAMAGE_TYPES)
    assert sum(map(sum, matrix)) == quality["panels"]
    correct = sum(matrix[i][i] for i in range(len(matrix)))
    assert quality["damage_type_accuracy"] == pytest.approx(correct / quality["panels"], abs=1e-4)
    assert quality["severity_confusion_matrix"]["labels"] == list(SEVERITIES)
    assert card["onnx"]["parity_max_abs_error"] <= 1e-4

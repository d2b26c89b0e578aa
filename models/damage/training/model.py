"""The vehicle-damage classifier: a compact plain-torch CNN with a damage-type head and a severity head.

No torchvision (there is no CPU build here): four strided conv blocks and global average pooling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from finfer.models.damage.classify import DAMAGE_TYPES, SEVERITIES

WIDTHS = (16, 32, 64, 96)


class DamageNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        blocks, channels = [], 3
        for index, width in enumerate(WIDTHS):
            blocks += [nn.Conv2d(channels, width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
            if index > 0:  # full resolution gets one conv only: most of the compute would be there
                blocks += [nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
            channels = width
        self.features = nn.Sequential(*blocks)
        self.damage_type = nn.Linear(channels, len(DAMAGE_TYPES))
        self.severity = nn.Linear(channels, len(SEVERITIES))

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        type_logits, severity_logits = self.logits(pixels)
        return type_logits.softmax(-1), severity_logits.softmax(-1)

    def logits(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.features(pixels).mean(dim=(2, 3))
        return self.damage_type(pooled), self.severity(pooled)


@dataclass(frozen=True)
class TrainParams:
    epochs: int
    batch_size: int = 64
    learning_rate: float = 3e-3


def train(
    model: DamageNet, pixels: np.ndarray, types: np.ndarray, severities: np.ndarray, params: TrainParams, progress
) -> list[dict]:
    """AdamW with a one-cycle schedule; horizontal flips as augmentation (damage has no handedness)."""
    generator = torch.Generator().manual_seed(0)
    x, t, s = torch.from_numpy(pixels), torch.from_numpy(types), torch.from_numpy(severities)
    optimizer = torch.optim.AdamW(model.parameters(), lr=params.learning_rate, weight_decay=1e-4)
    steps = params.epochs * ((len(x) + params.batch_size - 1) // params.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, params.learning_rate, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss()
    history = []
    model.train()
    for epoch in range(params.epochs):
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for first in range(0, len(x), params.batch_size):
            index = order[first : first + params.batch_size]
            batch = x[index]
            flip = torch.rand(len(batch), generator=generator) < 0.5
            batch = torch.where(flip[:, None, None, None], batch.flip(-1), batch)
            type_logits, severity_logits = model.logits(batch)
            loss = loss_fn(type_logits, t[index]) + loss_fn(severity_logits, s[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(index)
        history.append({"epoch": epoch + 1, "loss": round(total / len(x), 4)})
        progress(f"[damage] epoch {epoch + 1}/{params.epochs}: loss {total / len(x):.4f}")
    model.eval()
    return history


def predict(model: DamageNet, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    model.eval()
    with torch.no_grad():
        types, severities = model(torch.from_numpy(pixels))
    return types.numpy(), severities.numpy()


def load_checkpoint(path: Path) -> DamageNet:
    """A user's own weights for this architecture: a state_dict saved with torch.save."""
    model = DamageNet()
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model.eval()
    return model


def to_onnx(model: DamageNet, sample: np.ndarray, path: Path) -> None:
    model.eval()
    torch.onnx.export(
        model,
        (torch.from_numpy(sample),),
        str(path),
        input_names=["pixels"],
        output_names=["type_probabilities", "severity_probabilities"],
        dynamic_axes={
            "pixels": {0: "batch"},
            "type_probabilities": {0: "batch"},
            "severity_probabilities": {0: "batch"},
        },
        opset_version=17,
        dynamo=False,
    )


def confusion(truth: Sequence[int], predicted: Sequence[int], labels: Sequence[str]) -> list[list[int]]:
    matrix = [[0] * len(labels) for _ in labels]
    for t, p in zip(truth, predicted, strict=True):
        matrix[t][p] += 1
    return matrix

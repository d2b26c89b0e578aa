"""The damage classifier's contract: its labels and the pixels it reads, from an upload of any size."""

from __future__ import annotations

import cv2
import numpy as np

DAMAGE_TYPES = ("none", "scratch", "dent", "crack")


SEVERITIES = ("none", "minor", "moderate", "severe")


INPUT_SIZE = 96  # what the classifier sees; uploads of any size are resized to it


def classifier_input(image: np.ndarray) -> np.ndarray:
    """[3, 96, 96] float32 in [-1, 1] (BGR) from decoded pixels of any size."""
    resized = cv2.resize(image, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
    return (resized.astype(np.float32).transpose(2, 0, 1) / 127.5) - 1.0

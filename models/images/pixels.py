"""Uploaded images as pixels, for the models that read them (OCR, damage): OpenCV, inside Triton only."""

from __future__ import annotations

import cv2
import numpy as np

from finfer.models.images.uploads import ImageError, check_image


def decode_image(data: bytes) -> np.ndarray:
    """Encoded JPEG/PNG bytes → BGR uint8 pixels, or ImageError saying what is wrong."""
    width, height = check_image(data)
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.shape[0] != height or image.shape[1] != width:
        raise ImageError("image could not be decoded: corrupt")
    return image

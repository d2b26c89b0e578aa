"""The OCR steps as plain functions: decode → detector input → DB boxes → crops → recogniser batch → CTC text.

The Triton models of `document_ocr` are thin adapters over these, and `read_document` chains them
in-process (the reference the served pipeline is tested against, and how the build measures quality).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import pyclipper

from finfer.models.images.pixels import decode_image
from finfer.models.ocr.fields import Line

DETECT_MAX_SIDE = 736  # text 14 px and taller on a 1000×700 page survives the downscale
DETECT_STRIDE = 32
DB_THRESHOLD = 0.3
DB_BOX_THRESHOLD = 0.5
DB_UNCLIP_RATIO = 1.6
MIN_BOX_SIDE = 3
MAX_LINES = 128
REC_HEIGHT = 48
# 1.0 keeps each line's aspect. Squeezing to 0.75 was 25% faster but cost 1.2 points of line accuracy
# on the rendered test set (0.982 vs 0.994), so it is off.
REC_WIDTH_SCALE = 1.0
REC_WIDTH_BUCKETS = tuple(range(64, 1025, 64))
# A page's lines go to the recogniser in four batches by width, each padded to its own width bucket: the
# recogniser's cost is the padded area. One batch padded to the widest line cost 40% more than two on contracts;
# four cost 25% less than two on an application's five self-proof pages (0.66 against 0.88 s of CPU). Stacking
# the five pages' lines into shared batches was measured too and cost more than four a page (0.75 s in eight
# batches, 1.6 s in two), as did stacking their detector inputs (0.29 against 0.24 s): on CPU the calls are
# cheap and the padding is not.
REC_GROUPS = 4
# BGR mean/std on [0, 1] pixels: how PP-OCR's detector was trained
DET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
DET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def detector_input(image: np.ndarray, max_side: int = DETECT_MAX_SIDE) -> tuple[np.ndarray, np.ndarray]:
    """[1, 3, H, W] float32 for the detector (sides multiples of 32) and the (y, x) scale back to the image."""
    height, width = image.shape[:2]
    ratio = min(1.0, max_side / max(height, width))
    new_h = max(DETECT_STRIDE, round(height * ratio / DETECT_STRIDE) * DETECT_STRIDE)
    new_w = max(DETECT_STRIDE, round(width * ratio / DETECT_STRIDE) * DETECT_STRIDE)
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    pixels = (resized.astype(np.float32) / 255.0 - DET_MEAN) / DET_STD
    scale = np.array([height / new_h, width / new_w], dtype=np.float32)
    return pixels.transpose(2, 0, 1)[None], scale


def boxes_from_probability(probability: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DB post-processing: threshold the text-probability map, grow each region back by the unclip
    ratio (the detector predicts shrunk text kernels), and return [N, 4, 2] boxes in image pixels
    (clockwise from top-left, in reading order) with their mean probabilities."""
    bitmap = (probability > DB_THRESHOLD).astype(np.uint8)
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    boxes, scores = [], []
    for contour in contours[: MAX_LINES * 4]:
        corners, short_side = _min_area_box(contour.reshape(-1, 2))
        if short_side < MIN_BOX_SIDE:
            continue
        score = _mean_inside(probability, corners)
        if score < DB_BOX_THRESHOLD:
            continue
        grown = _unclip(corners)
        if grown is None:
            continue
        corners, short_side = _min_area_box(grown)
        if short_side < MIN_BOX_SIDE + 2:
            continue
        corners = corners * scale[::-1]
        boxes.append(corners)
        scores.append(score)
    if not boxes:
        return np.zeros((0, 4, 2), np.float32), np.zeros((0,), np.float32)
    order = sorted(range(len(boxes)), key=lambda i: (round(boxes[i][0][1] / 10), boxes[i][0][0]))[:MAX_LINES]
    return np.array([boxes[i] for i in order], np.float32), np.array([scores[i] for i in order], np.float32)


def _min_area_box(points: np.ndarray) -> tuple[np.ndarray, float]:
    rect = cv2.minAreaRect(points.astype(np.float32))
    corners = cv2.boxPoints(rect)
    # Order: top-left, top-right, bottom-right, bottom-left.
    by_x = corners[np.argsort(corners[:, 0])]
    left = by_x[:2][np.argsort(by_x[:2, 1])]
    right = by_x[2:][np.argsort(by_x[2:, 1])]
    ordered = np.array([left[0], right[0], right[1], left[1]], np.float32)
    return ordered, min(rect[1])


def _mean_inside(probability: np.ndarray, corners: np.ndarray) -> float:
    height, width = probability.shape
    x0, y0 = np.clip(np.floor(corners.min(0)).astype(int), 0, [width - 1, height - 1])
    x1, y1 = np.clip(np.ceil(corners.max(0)).astype(int), 0, [width - 1, height - 1])
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    cv2.fillPoly(mask, [(corners - [x0, y0]).astype(np.int32)], 1)
    return float(cv2.mean(probability[y0 : y1 + 1, x0 : x1 + 1], mask)[0])


def _unclip(corners: np.ndarray) -> np.ndarray | None:
    area = cv2.contourArea(corners)
    perimeter = cv2.arcLength(corners, True)
    if perimeter == 0:
        return None
    offset = pyclipper.PyclipperOffset()
    offset.AddPath([tuple(p) for p in corners.astype(np.int64)], pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    grown = offset.Execute(area * DB_UNCLIP_RATIO / perimeter)
    if len(grown) != 1:
        return None
    return np.array(grown[0], np.float32)


def crop(image: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """The box straightened into an upright line image."""
    width = int(max(np.linalg.norm(corners[0] - corners[1]), np.linalg.norm(corners[2] - corners[3])))
    height = int(max(np.linalg.norm(corners[0] - corners[3]), np.linalg.norm(corners[1] - corners[2])))
    width, height = max(width, 1), max(height, 1)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    matrix = cv2.getPerspectiveTransform(corners.astype(np.float32), target)
    return cv2.warpPerspective(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)


def rec_width(line: np.ndarray) -> int:
    height, width = line.shape[:2]
    return min(REC_WIDTH_BUCKETS[-1], max(8, math.ceil(REC_WIDTH_SCALE * REC_HEIGHT * width / height)))


def bucket(width: int) -> int:
    return next(b for b in REC_WIDTH_BUCKETS if b >= width)


def recognizer_batch(lines: Sequence[np.ndarray]) -> np.ndarray:
    """[N, 3, 48, W] float32: each line resized to the recogniser's height, normalised to [-1, 1] and
    right-padded with zeros to one width bucket (the narrowest that fits the widest line), so Triton
    can batch requests whose buckets agree. No lines: one blank line, since a batch cannot be empty."""
    if not lines:
        return np.zeros((1, 3, REC_HEIGHT, REC_WIDTH_BUCKETS[0]), np.float32)
    widths = [rec_width(line) for line in lines]
    batch = np.zeros((len(lines), 3, REC_HEIGHT, bucket(max(widths))), np.float32)
    for row, (line, width) in enumerate(zip(lines, widths, strict=True)):
        resized = cv2.resize(line, (width, REC_HEIGHT), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        batch[row, :, :, :width] = (resized / 255.0 - 0.5).transpose(2, 0, 1) / 0.5
    return batch


def recognizer_groups(lines: Sequence[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """The lines sorted by width and split into REC_GROUPS batches; with the order (original index of
    each sorted line) and the group sizes. A group with no lines holds one blank line (size 0)."""
    order = np.argsort([rec_width(line) for line in lines], kind="stable").astype(np.int64)
    parts = np.array_split(order, REC_GROUPS)
    batches = [recognizer_batch([lines[i] for i in part]) for part in parts]
    return batches, order, np.array([len(part) for part in parts], np.int64)


def decode_groups(
    probabilities: Sequence[np.ndarray], order: np.ndarray, sizes: np.ndarray, characters: Sequence[str]
) -> list[tuple[str, float]]:
    """CTC text of every line, back in the original order."""
    sorted_lines = [
        line
        for probs, size in zip(probabilities, sizes, strict=True)
        if size
        for line in ctc_decode(probs[:size], characters)
    ]
    decoded: list[tuple[str, float]] = [("", 0.0)] * len(order)
    for index, line in zip(order, sorted_lines, strict=True):
        decoded[index] = line
    return decoded


def ctc_decode(probabilities: np.ndarray, characters: Sequence[str]) -> list[tuple[str, float]]:
    """Greedy CTC: best class per time step, repeats merged, blanks (class 0) dropped; confidence is the
    mean probability of the kept steps (0 for an empty line)."""
    best = probabilities.argmax(-1)
    best_p = probabilities.max(-1)
    out = []
    for classes, scores in zip(best, best_p, strict=True):
        keep = np.ones_like(classes, dtype=bool)
        keep[1:] = classes[1:] != classes[:-1]
        keep &= classes != 0
        text = "".join(characters[c] for c in classes[keep])
        out.append((text, float(scores[keep].mean()) if keep.any() else 0.0))
    return out


def to_lines(decoded: Sequence[tuple[str, float]], boxes: np.ndarray) -> list[Line]:
    """Recognised lines with their boxes; lines that read as nothing are dropped."""
    lines = []
    for (text, confidence), box in zip(decoded, boxes, strict=False):
        if text.strip():
            corners = tuple((round(float(x), 1), round(float(y), 1)) for x, y in box)
            lines.append(Line(text, round(confidence, 4), corners))
    return lines


Runner = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class OcrModels:
    """The two networks as functions of one input array, plus the recogniser's character list."""

    detect: Runner
    recognize: Runner
    characters: tuple[str, ...]


def read_document(models: OcrModels, data: bytes) -> list[Line]:
    image = decode_image(data)
    pixels, scale = detector_input(image)
    boxes, _ = boxes_from_probability(models.detect(pixels)[0, 0], scale)
    batches, order, sizes = recognizer_groups([crop(image, box) for box in boxes])
    probabilities = [models.recognize(batch) if size else None for batch, size in zip(batches, sizes, strict=True)]
    return to_lines(decode_groups(probabilities, order, sizes, models.characters), boxes)

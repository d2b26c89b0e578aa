"""OCR quality on rendered documents: line exact match, character error rate, field accuracy.

Lines are compared after `normalise` (full-width forms to ASCII, spaces dropped): recognisers do
not agree on whether "No. AL2019" has a space, and the fields do not depend on it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

from finfer.models.ocr.fields import Line, extract_fields, normalise
from finfer.models.ocr.training.documents import Document

Reader = Callable[[bytes], list[Line]]


def edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def _bounds(box: Sequence[Sequence[float]]) -> tuple[float, float, float, float]:
    xs, ys = [p[0] for p in box], [p[1] for p in box]
    return min(xs), min(ys), max(xs), max(ys)


def overlap(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]]) -> float:
    """Intersection over union of the two boxes' bounding rectangles."""
    ax0, ay0, ax1, ay1 = _bounds(a)
    bx0, by0, bx1, by1 = _bounds(b)
    inter = max(0.0, min(ax1, bx1) - max(ax0, bx0)) * max(0.0, min(ay1, by1) - max(ay0, by0))
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    return inter / union if union > 0 else 0.0


def match_line(truth_box: Sequence[Sequence[float]], lines: Sequence[Line]) -> Line | None:
    """The read line that overlaps the true line most (at least 0.3), or None: the line was missed."""
    best = max(lines, key=lambda line: overlap(truth_box, line.box), default=None)
    return best if best is not None and overlap(truth_box, best.box) >= 0.3 else None


def evaluate(read: Reader, documents: Sequence[Document]) -> dict:
    exact = total = errors = characters = 0
    field_hits: dict[str, list[bool]] = {}
    seconds: dict[str, list[float]] = {}
    for document in documents:
        started = time.perf_counter()
        lines = read(document.image)
        seconds.setdefault(document.kind, []).append(time.perf_counter() - started)
        for truth in document.lines:
            want = normalise(truth.text)
            found = match_line(truth.box, lines)
            got = normalise(found.text) if found else ""
            total += 1
            exact += got == want
            errors += edit_distance(want, got)
            characters += len(want)
        fields = extract_fields(lines)
        for name, value in document.fields.items():
            found_field = fields.get(name)
            key = f"{name}@{document.kind}"
            field_hits.setdefault(key, []).append(found_field is not None and found_field.value == value)
    all_seconds = [s for values in seconds.values() for s in values]
    return {
        "documents": len(documents),
        "lines": total,
        "line_exact_match": round(exact / total, 4),
        "character_error_rate": round(errors / characters, 4),
        "field_exact_match": {k: round(sum(v) / len(v), 4) for k, v in sorted(field_hits.items())},
        "vin_plate_exact_match": round(_mean(field_hits.get("vin@vin_plate", [])), 4),
        "median_ms_per_image": round(1000 * statistics.median(all_seconds), 1),
        "median_ms_by_kind": {k: round(1000 * statistics.median(v), 1) for k, v in sorted(seconds.items())},
    }


def _mean(values: Sequence[bool]) -> float:
    return sum(values) / len(values) if values else 0.0

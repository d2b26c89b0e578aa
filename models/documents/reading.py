"""A recognised page's lines → the fields of its kind, found by their printed labels.

Papers print a field in one of three ways, and the reader tries them in this order:
1. on the label's own line, after it (`姓名：王伟`, or `姓名 王伟` when the recogniser joined the two);
2. in the nearest line to its right on the same row (a table's next cell);
3. in the nearest line below it, starting under it (a label printed above its value).
The first text that parses as the field's type (values.py) is the value. A VIN or a plate that no label
announces (a VIN plate) is searched in every line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from finfer.models.documents.kinds import Kind, Type
from finfer.models.documents.values import parse
from finfer.models.ocr.fields import Field, Line, first_found, normalise

# Types distinctive enough to be found without their label.
UNLABELLED = frozenset({Type.VIN, Type.PLATE})
SAME_ROW = 0.6  # a line is on the label's row when their centres are within this share of a line's height
BELOW = 2.6  # how far below the label (in line heights) its value may start


@dataclass(frozen=True)
class Placed:
    """A line with its text compacted (no spaces, ASCII forms), its centre, the direction the page's text
    runs (a photo is tilted: rows are found along it, not along the image's x axis), its length along
    that direction and its height across it."""

    line: Line
    text: str
    centre: tuple[float, float]
    direction: tuple[float, float]
    length: float
    height: float

    def offset(self, other: Placed) -> tuple[float, float]:
        """Where the other line's centre is: along this line's direction, and across it (down is positive)."""
        dx, dy = other.centre[0] - self.centre[0], other.centre[1] - self.centre[1]
        ux, uy = self.direction
        return dx * ux + dy * uy, dy * ux - dx * uy


@dataclass(frozen=True)
class Hit:
    field: str
    line: int
    start: int
    end: int


def place(lines: Sequence[Line]) -> list[Placed]:
    """The lines with the direction the page's text runs: the length-weighted median of the lines' own
    angles. A short line's box (a two-character label) says little about its angle; the long ones agree."""
    boxes = [line.box[:4] for line in lines]
    lengths = [max(1.0, math.hypot(b[1][0] - b[0][0], b[1][1] - b[0][1])) for b in boxes]
    angles = sorted(
        (math.atan2(b[1][1] - b[0][1], b[1][0] - b[0][0]), length) for b, length in zip(boxes, lengths, strict=True)
    )
    half, seen, median = sum(lengths) / 2, 0.0, 0.0
    for median, length in angles:  # noqa: B007 (the loop stops at the median, which it keeps)
        seen += length
        if seen >= half:
            break
    direction = (math.cos(median), math.sin(median))
    placed = []
    for line, box, length in zip(lines, boxes, lengths, strict=True):
        (x0, y0), _, _, (x3, y3) = box
        height = max(1.0, math.hypot(x3 - x0, y3 - y0))
        centre = (sum(p[0] for p in box) / 4, sum(p[1] for p in box) / 4)
        placed.append(Placed(line, normalise(line.text), centre, direction, length, height))
    return placed


@cache
def _labels(kind: Kind) -> tuple[tuple[str, str], ...]:
    """(field, label) for every printed label of the kind, compacted as lines are: once a kind, not a line."""
    return tuple((spec.name, normalise(label)) for spec in kind.fields for label in spec.labels)


def _label_hits(kind: Kind, placed: Sequence[Placed]) -> list[Hit]:
    """Every printed label of the kind's fields; where two overlap, the longer (身份证号码 over 号码)."""
    hits = []
    for index, line in enumerate(placed):
        found = [
            Hit(name, index, start, start + len(label))
            for name, label in _labels(kind)
            if (start := line.text.find(label)) >= 0
        ]
        if not any(hit.start == 0 for hit in found):
            found += [
                Hit(name, index, 0, len(label)) for name, label in _labels(kind) if _misread_label(line.text, label)
            ]
        found.sort(key=lambda h: (h.start, -(h.end - h.start)))
        kept: list[Hit] = []
        for hit in found:
            if all(hit.start >= k.end or hit.end <= k.start for k in kept):
                kept.append(hit)
        hits.extend(kept)
    return hits


def _misread_label(text: str, label: str) -> bool:
    """The line starts with the label read with one character wrong (信款金额 for 借款金额). Tried only
    on a line that starts with no label as printed, and for labels of three characters or more."""
    return len(label) >= 3 and len(text) >= len(label) and sum(a != b for a, b in zip(text, label, strict=False)) == 1


def _neighbours(placed: Sequence[Placed], index: int) -> list[int]:
    """Lines that may hold the label's value, nearest first: to its right on its row (a table's next
    cell), or starting under it (a label printed above its value). Nearest by the gap in pixels, so
    that a next column's line, which a tilted photo brings close to the label's row, loses to the line
    under the label."""
    label = placed[index]
    gaps = []
    for i, other in enumerate(placed):
        if i == index:
            continue
        along, across = label.offset(other)
        gap_along = along - (label.length + other.length) / 2
        if abs(across) < SAME_ROW * label.height and gap_along > -4:
            gaps.append((gap_along, i))
        elif 0 < across - (label.height + other.height) / 2 + label.height < BELOW * label.height:
            left_edge = along - other.length / 2 + label.length / 2  # the other line's start against the label's
            if abs(left_edge) < 3 * label.height:
                gaps.append((across - (label.height + other.height) / 2, i))
    return [i for _, i in sorted(gaps)]


def _up_to_next_label(text: str, start: int, line_hits: Sequence[Hit]) -> str:
    ends = [h.start for h in line_hits if h.start >= start]
    return text[start : min(ends, default=len(text))]


def read_fields(kind: Kind, lines: Sequence[Line]) -> dict[str, Field]:
    """The fields of `kind` found on the page, by name; a field not found is left out."""
    placed = place(lines)
    hits = _label_hits(kind, placed)
    by_line: dict[int, list[Hit]] = {}
    for hit in hits:
        by_line.setdefault(hit.line, []).append(hit)
    labelled_lines = {i for i, line_hits in by_line.items() if any(h.start == 0 for h in line_hits)}
    fields: dict[str, Field] = {}
    for spec in kind.fields:
        for hit in (h for h in hits if h.field == spec.name):
            found = _value_near(spec.type, hit, placed, by_line, labelled_lines)
            if found is not None:
                fields[spec.name] = found
                break
        if spec.name not in fields and spec.type in UNLABELLED:
            found = _anywhere(spec.type, placed)
            if found is not None:
                fields[spec.name] = found
    return fields


def _field(parsed: tuple[str, bool], line: Line) -> Field:
    return Field(parsed[0], parsed[1], line.confidence, line.box)


def _value_near(
    type_: Type, hit: Hit, placed: Sequence[Placed], by_line: dict[int, list[Hit]], labelled: set[int]
) -> Field | None:
    line = placed[hit.line]
    parsed = parse(type_, _up_to_next_label(line.text, hit.end, by_line[hit.line]))
    if parsed is not None:
        return _field(parsed, line.line)
    for index in _neighbours(placed, hit.line)[:3]:
        if index in labelled:
            continue
        parsed = parse(type_, _up_to_next_label(placed[index].text, 0, by_line.get(index, ())))
        if parsed is not None:
            return _field(parsed, placed[index].line)
    return None


def _anywhere(type_: Type, placed: Sequence[Placed]) -> Field | None:
    return first_found(lambda text: parse(type_, text), [p.line for p in placed])

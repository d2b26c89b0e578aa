"""How well held-out pages are recognised and read: kind accuracy and confusion, field exact match,
check-character detection, and what classifying and reading add to a page's cost.

A field is exact when the value read equals the value printed. Check characters are judged on the
identifiers read exactly: one printed with a wrong check character must be flagged, one printed right
must not. An identifier misread by the recogniser usually fails its check too; those are counted
apart (`misreads_flagged`), since flagging them is right but says nothing about the printed check.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

from finfer.models.documents.classifier import KindClassifier
from finfer.models.documents.kinds import BY_NAME, KINDS, UNKNOWN, Type
from finfer.models.documents.reading import read_fields
from finfer.models.documents.training.pages import Page
from finfer.models.documents.values import CHECKED
from finfer.models.ocr.fields import Line

Reader = Callable[[bytes], list[Line]]
# "Numbers, dates and amounts": the fields whose exact match has a target.
EXACT_TYPES = frozenset(Type) - {Type.TEXT, Type.NAME}
KIND_TARGET, EVERY_KIND_TARGET, FIELD_TARGET = 0.98, 0.95, 0.95


def evaluate(read: Reader, classifier: KindClassifier, pages: Sequence[Page]) -> dict:
    confusion: dict[str, dict[str, int]] = {}
    exact: dict[str, list[bool]] = {}
    checks = {"invalid_printed": 0, "invalid_flagged": 0, "valid_printed": 0, "valid_flagged": 0}
    misread = {"misread": 0, "misreads_flagged": 0}
    ocr_s, classify_s, read_s = [], [], []
    for page in pages:
        started = time.perf_counter()
        lines = read(page.image)
        ocr_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        guess = classifier.classify([line.text for line in lines])
        classify_s.append(time.perf_counter() - started)
        row = confusion.setdefault(page.kind, {})
        row[guess.kind] = row.get(guess.kind, 0) + 1
        if page.kind == UNKNOWN:
            continue
        kind = BY_NAME[page.kind]
        started = time.perf_counter()
        found = read_fields(kind, lines)
        read_s.append(time.perf_counter() - started)
        for spec in kind.fields:
            truth, got = page.fields[spec.name], found.get(spec.name)
            same = got is not None and got.value == truth.value
            exact.setdefault(f"{kind.name}.{spec.name}", []).append(same)
            if spec.type not in CHECKED or got is None:
                continue
            if same:
                printed = "valid" if truth.valid else "invalid"
                checks[f"{printed}_printed"] += 1
                checks[f"{printed}_flagged"] += not got.valid
            else:
                misread["misread"] += 1
                misread["misreads_flagged"] += not got.valid
    return _report(confusion, exact, checks | misread, ocr_s, classify_s, read_s)


def _report(confusion, exact, checks, ocr_s, classify_s, read_s) -> dict:
    per_kind = {k: round(row.get(k, 0) / sum(row.values()), 4) for k, row in sorted(confusion.items())}
    total = sum(sum(row.values()) for row in confusion.values())
    right = sum(row.get(k, 0) for k, row in confusion.items())
    fields = {name: round(sum(hits) / len(hits), 4) for name, hits in sorted(exact.items())}
    typed = {
        name: rate
        for name, rate in fields.items()
        if BY_NAME[name.split(".")[0]].field(name.split(".")[1]).type in EXACT_TYPES
    }
    ocr_ms = 1000 * statistics.median(ocr_s)
    extra_ms = 1000 * (statistics.median(classify_s) + (statistics.median(read_s) if read_s else 0.0))
    return {
        "pages": total,
        "kind_accuracy": round(right / total, 4),
        "kind_accuracy_by_kind": per_kind,
        "confusion": confusion,
        "field_exact_match": fields,
        "numbers_dates_amounts_lowest": min(typed.items(), key=lambda item: item[1]) if typed else None,
        "check_characters": checks,
        "median_ms": {
            "ocr": round(ocr_ms, 1),
            "classify": round(1000 * statistics.median(classify_s), 3),
            "read_fields": round(1000 * statistics.median(read_s), 3) if read_s else 0.0,
            "added_share": round(extra_ms / ocr_ms, 4),
        },
        "targets_met": {
            "kind_accuracy": right / total >= KIND_TARGET,
            "every_kind": min(per_kind.values()) >= EVERY_KIND_TARGET,
            "fields": all(rate >= FIELD_TARGET for rate in typed.values()),
            "checks": checks["invalid_flagged"] == checks["invalid_printed"] and checks["valid_flagged"] == 0,
        },
        "kinds": len(KINDS),
    }

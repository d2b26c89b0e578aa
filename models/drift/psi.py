"""Population stability as plain functions: reference distributions written at build time, and the PSI of a
window of live values against them.

A numeric reference is the training data's decile edges (so each bin holds about a tenth of it); a
categorical one is each category's share, with `other` for what training never saw. PSI = Σ (a − e) ln(a / e)
over the bins, shares floored at EPSILON so an empty bin counts as rare, not as infinitely surprising.
Rules of thumb (and the alert rules): below 0.1 stable, 0.1–0.25 worth a look, above 0.25 shifted.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

EPSILON = 1e-4
OTHER = "other"
REFERENCE_FILE = "drift_reference.json"  # in the model card, beside the pipeline's metadata


@dataclass(frozen=True)
class NumericReference:
    edges: tuple[float, ...]  # interior edges: len(edges) + 1 bins
    shares: tuple[float, ...]

    def bin(self, value: float) -> int:
        return bisect.bisect_right(self.edges, value)

    @property
    def labels(self) -> list[str]:
        bounds = ["-inf", *(f"{e:g}" for e in self.edges), "inf"]
        return [f"[{bounds[i]}, {bounds[i + 1]})" for i in range(len(self.shares))]


@dataclass(frozen=True)
class CategoricalReference:
    categories: tuple[str, ...]  # the last is OTHER
    shares: tuple[float, ...]

    def bin(self, value: object) -> int:
        try:
            return self.categories.index(str(value))
        except ValueError:
            return len(self.categories) - 1

    @property
    def labels(self) -> list[str]:
        return list(self.categories)


Reference = NumericReference | CategoricalReference


def numeric_reference(values: Sequence[float], bins: int = 10) -> NumericReference:
    """Quantile edges of `values` (repeated edges merged: a feature with few distinct values gets fewer bins)."""
    data = np.asarray(values, dtype=np.float64)
    edges = tuple(sorted({float(e) for e in np.quantile(data, np.linspace(0, 1, bins + 1)[1:-1])}))
    counts = np.bincount([bisect.bisect_right(edges, v) for v in data], minlength=len(edges) + 1)
    return NumericReference(edges, tuple(float(c) for c in counts / len(data)))


def categorical_reference(values: Iterable[object]) -> CategoricalReference:
    counts: dict[str, int] = {}
    for value in values:
        counts[str(value)] = counts.get(str(value), 0) + 1
    total = sum(counts.values())
    categories = tuple(sorted(counts)) + (OTHER,)
    return CategoricalReference(categories, tuple(counts.get(c, 0) / total for c in categories[:-1]) + (0.0,))


def psi(expected: Sequence[float], counts: Sequence[int]) -> float:
    """PSI of observed `counts` against `expected` shares (same bins)."""
    total = sum(counts)
    if not total:
        return 0.0
    value = 0.0
    for e, c in zip(expected, counts, strict=True):
        e, a = max(e, EPSILON), max(c / total, EPSILON)
        value += (a - e) * math.log(a / e)
    return value


def to_dict(reference: Reference) -> dict[str, Any]:
    if isinstance(reference, NumericReference):
        return {"kind": "numeric", "edges": list(reference.edges), "shares": list(reference.shares)}
    return {"kind": "categorical", "categories": list(reference.categories), "shares": list(reference.shares)}


def from_dict(data: dict[str, Any]) -> Reference:
    if data["kind"] == "numeric":
        return NumericReference(tuple(data["edges"]), tuple(data["shares"]))
    return CategoricalReference(tuple(data["categories"]), tuple(data["shares"]))


def references(columns: dict[str, Sequence[Any]], categorical: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """The reference of every column, in the card's JSON form; `categorical` names the categorical ones."""
    kinds = set(categorical)
    return {
        name: to_dict(categorical_reference(values) if name in kinds else numeric_reference(values))
        for name, values in columns.items()
    }


def card(inputs: dict[str, Sequence[Any]], outputs: dict[str, Sequence[Any]], categorical: Iterable[str] = ()) -> bytes:
    """The reference file of a model card: its inputs' and outputs' training distributions."""
    kinds = tuple(categorical)
    reference = {"features": references(inputs, kinds), "outputs": references(outputs, kinds)}
    return json.dumps(reference, indent=1).encode()


class Window:
    """The last `size` values of one feature as bin counts, kept incrementally (O(1) a value)."""

    __slots__ = ("reference", "size", "_bins", "_next", "counts", "seen")

    def __init__(self, reference: Reference, size: int) -> None:
        self.reference = reference
        self.size = size
        self._bins: list[int] = []
        self._next = 0
        self.counts = [0] * len(reference.shares)
        self.seen = 0

    def add(self, value: object) -> None:
        b = self.reference.bin(value)  # type: ignore[arg-type]
        if len(self._bins) < self.size:
            self._bins.append(b)
        else:
            self.counts[self._bins[self._next]] -= 1
            self._bins[self._next] = b
            self._next = (self._next + 1) % self.size
        self.counts[b] += 1
        self.seen += 1

    def psi(self) -> float:
        return psi(self.reference.shares, self.counts)

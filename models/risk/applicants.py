"""Applicants drawn from the shipped German credit data, as the API takes them: the examples the declaration
generates, the front's probe, and the bench's request streams (made unique so that caches do not flatter)."""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any

from finfer import paths


def load_applicants(csv_path: Path = paths.GERMAN_CREDIT_CSV, target: str = "creditability") -> list[dict[str, Any]]:
    """Rows as the API takes them: numbers as numbers, categories as the CSV spells them, no target."""
    with csv_path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    applicants = []
    for row in rows:
        applicant: dict[str, Any] = {}
        for key, value in row.items():
            if key == target:
                continue
            try:
                applicant[key] = int(value)
            except ValueError:
                try:
                    applicant[key] = float(value)
                except ValueError:
                    applicant[key] = value
        applicants.append(applicant)
    return applicants


def unique_applicants(n: int, seed: int = 0, amount_field: str = "credit_amount") -> list[dict[str, Any]]:
    """n distinct applicants: real rows with the amount moved, so no two requests share a cache key.

    Seeds below 1,000 give disjoint amounts for the same n, so streams drawn chunk by chunk stay distinct.
    """
    base = load_applicants()
    rng = random.Random(seed)
    out = []
    for i in range(n):
        applicant = dict(rng.choice(base))
        applicant[amount_field] = 250 + n * (seed % 1000) + i
        out.append(applicant)
    return out

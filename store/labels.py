"""Labels for the next model: each reviewed case's credit file with the reviewer's outcome, as the CSV that
`finfer build --csv FILE --target review_outcome --positive-label decline` trains the risk model on."""

from __future__ import annotations

import csv
from pathlib import Path

from finfer.store.decisions import DecisionStore

TARGET = "review_outcome"
POSITIVE = "decline"


def export_labels(store: DecisionStore, since: str, out: Path) -> int:
    """Write the cases resolved at or after `since` (ISO date or time, UTC) to `out`; returns how many."""
    rows = [{**record["credit_file"], TARGET: outcome} for record, outcome, _ in store.reviewed_since(since)]
    columns = list(dict.fromkeys(name for row in rows for name in row if name != TARGET)) + [TARGET]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)

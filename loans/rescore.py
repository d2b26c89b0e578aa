"""`finfer loans rescore --file statements.csv`: a month of a portfolio's statements sent to the front in batches,
with progress, and every loan's updated score written out.

Idempotent: statements carry their ids, so a second run (or a run resumed after a failure) takes nothing twice and
is answered with the scores the first run got. Loans whose origination columns are in the file are opened first
(opening again changes nothing). A statement refused on its own is written with its error, and the run goes on.
"""

from __future__ import annotations

import csv
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATEMENT_COLUMNS = ("loan_id", "statement_id", "period", "balance", "paid", "status")
ORIGINATION_COLUMNS = ("limit", "age", "education")
OUT_COLUMNS = (
    "loan_id",
    "statement_id",
    "period",
    "probability_of_default",
    "change",
    "band",
    "action",
    "repeated",
    "error",
)


class RescoreError(Exception):
    """The file cannot be read as statements, or the front cannot be reached: the message says which."""


@dataclass(frozen=True)
class Portfolio:
    statements: list[dict[str, Any]]  # the batch route's items, month by month
    originations: dict[str, dict[str, Any]]  # loans to open first, by id


def _number(row: dict[str, str], column: str, line: int, kind: type = float) -> Any:
    try:
        return kind(row[column])
    except ValueError:
        raise RescoreError(f"line {line}: {column} is not a number: {row[column]!r}") from None


def read_statements(path: Path) -> Portfolio:
    """The file's statements in period order (a loan's months one after another), and the loans to open."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise RescoreError(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in STATEMENT_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise RescoreError(f"{path}: no column {', '.join(missing)} (it needs {', '.join(STATEMENT_COLUMNS)})")
        opens = all(c in (reader.fieldnames or ()) for c in ORIGINATION_COLUMNS)
        statements, originations = [], {}
        for line, row in enumerate(reader, start=2):
            item = {
                "loan_id": row["loan_id"],
                "statement_id": row["statement_id"],
                "period": row["period"],
                "balance": _number(row, "balance", line),
                "paid": _number(row, "paid", line),
                "status": _number(row, "status", line, int),
            }
            if row.get("message_intent"):
                item["message_intent"] = row["message_intent"]
            statements.append(item)
            if opens and all(row[c] for c in ORIGINATION_COLUMNS):
                originations[row["loan_id"]] = {
                    "limit": _number(row, "limit", line),
                    "age": _number(row, "age", line, int),
                    "education": _number(row, "education", line, int),
                }
    statements.sort(key=lambda s: (s["period"], s["loan_id"]))
    return Portfolio(statements, originations)


class Front:
    def __init__(self, url: str, api_key: str | None, timeout_s: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.headers = {"content-type": "application/json"}
        if api_key:
            self.headers["authorization"] = f"Bearer {api_key}"
        self.timeout_s = timeout_s

    def post(self, path: str, body: object) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            self.url + path, data=json.dumps(body).encode(), headers=self.headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")
        except OSError as exc:
            raise RescoreError(f"the front at {self.url} cannot be reached: {exc}") from None


def batches(items: Sequence[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def result_row(item: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    if "error" in answer and answer["error"]:
        error = answer["error"]
        return {**{k: item.get(k, "") for k in ("loan_id", "statement_id", "period")}, "error": error["message"]}
    treatment = answer["treatment"]
    return {
        "loan_id": answer["loan_id"],
        "statement_id": answer["statement_id"],
        "period": answer["period"],
        "probability_of_default": f"{answer['probability_of_default']:.6f}",
        "change": f"{answer['change']:.6f}",
        "band": treatment["band"],
        "action": treatment["action"],
        "repeated": str(answer["repeated"]).lower(),
        "error": "",
    }


def rescore(
    front: Front,
    portfolio: Portfolio,
    out: Path,
    batch: int,
    concurrency: int,
    advanced: Callable[[int], None] = lambda n: None,
) -> tuple[int, int]:
    """Open the file's loans, send its statements in batches, write one row a statement to `out` in the file's
    period order. Returns (statements scored, statements refused)."""

    def open_loan(item: tuple[str, dict[str, Any]]) -> str | None:
        status, body = front.post("/v1/loans", {"loan_id": item[0], "origination": item[1]})
        return None if status == 200 else body.get("error", {}).get("message", f"HTTP {status}")

    def send(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for _ in range(5):
            status, body = front.post("/v1/loans/statements:batch", {"statements": items})
            if status == 200:
                advanced(len(items))
                return [result_row(i, a) for i, a in zip(items, body["results"], strict=True)]
            if status == 400 and len(items) > 1:
                # A bad row refuses its whole batch before anything is taken: each row alone, so that only it fails.
                return [row for item in items for row in send([item])]
            if status != 503:
                break
            time.sleep(1.0)  # the store or Triton away for a moment: the batch is idempotent, send it again
        message = body.get("error", {}).get("message", f"HTTP {status}")
        advanced(len(items))
        return [result_row(i, {"error": {"message": message}}) for i in items]

    with ThreadPoolExecutor(max(1, concurrency)) as pool:
        unopened = {
            loan_id: error
            for loan_id, error in zip(
                portfolio.originations, pool.map(open_loan, portfolio.originations.items()), strict=True
            )
            if error
        }
        rows = [row for part in pool.map(send, batches(portfolio.statements, batch)) for row in part]
    for row in rows:
        if row["error"] and row["loan_id"] in unopened:
            row["error"] = f"the loan could not be opened: {unopened[row['loan_id']]}"
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=OUT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    refused = sum(1 for row in rows if row["error"])
    return len(rows) - refused, refused

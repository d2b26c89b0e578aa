"""A loan's history as the behaviour model's input: what was known at origination and its last six statements.

One row a loan, whatever it has been through: statement slot 0 is the most recent month, slot 5 six months
before it, and a slot the loan has not reached yet is NaN (the trees send a missing value its own way, and
ONNX's tree ensemble does the same). Training encodes every history length of every loan with the same
function that encodes one loan at serving, so the two cannot drift apart.

Sex and marital status are in the data set and are left out on purpose: a lender may not price credit on
them, and the held-out figures (docs/pipelines.md) are measured without them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MONTHS = 6  # statements the model looks at: the last six
# Repayment status as the servicing system reports it: -2 no use, -1 paid in full, 0 revolving, 1..9 months late.
STATUS_MIN, STATUS_MAX = -2, 9
AGE_MIN, AGE_MAX = 18, 120  # the borrower's age at origination


@dataclass(frozen=True)
class Origination:
    """What was known of the loan when it was opened."""

    limit: float  # credit granted
    age: int
    education: int  # 1 graduate school, 2 university, 3 high school, 4 others, 0/5/6 unknown


@dataclass(frozen=True)
class Statement:
    """One month of the loan: its statement balance, what was paid, and its repayment status."""

    balance: float
    paid: float
    status: int


def slot_names() -> list[str]:
    return [f"{what}_{slot}" for slot in range(MONTHS) for what in ("status", "utilisation", "paid", "paid_share")]


FEATURE_NAMES: tuple[str, ...] = (
    "limit",
    "age",
    "education",
    "months_known",
    *slot_names(),
    "worst_status",
    "mean_status",
    "months_late",
    "mean_utilisation",
    "paid_over_billed",
)


def encode_many(
    limit: np.ndarray,
    age: np.ndarray,
    education: np.ndarray,
    status: np.ndarray,
    balance: np.ndarray,
    paid: np.ndarray,
) -> np.ndarray:
    """Rows of FEATURE_NAMES. `status`, `balance`, `paid`: (loans, 6), the most recent month first, NaN where the
    loan has no statement yet."""
    n = len(limit)
    known = ~np.isnan(status)
    months_known = known.sum(axis=1)
    limit = np.asarray(limit, dtype=np.float64)
    utilisation = balance / np.maximum(limit, 1.0)[:, None]
    # What was paid this month against what the previous statement asked for.
    previous = np.concatenate([balance[:, 1:], np.full((n, 1), np.nan)], axis=1)
    paid_share = paid / np.maximum(previous, 1.0)
    columns = [limit, age, education, months_known]
    for slot in range(MONTHS):
        columns += [status[:, slot], utilisation[:, slot], paid[:, slot], paid_share[:, slot]]
    any_known = months_known > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        late = np.where(known, status >= 1, False).sum(axis=1).astype(np.float64)
        columns += [
            np.where(any_known, np.nanmax(np.where(known, status, -np.inf), axis=1), np.nan),
            np.where(any_known, np.nansum(status, axis=1) / np.maximum(months_known, 1), np.nan),
            np.where(any_known, late, np.nan),
            np.where(any_known, np.nansum(utilisation, axis=1) / np.maximum(months_known, 1), np.nan),
            np.where(any_known, np.nansum(paid, axis=1) / np.maximum(np.nansum(balance, axis=1), 1.0), np.nan),
        ]
    return np.column_stack(columns).astype(np.float32)


Window = tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]  # status, balance, paid by slot; NaN unknown


def month_index(period: str) -> int:
    """ "2026-07" → months since year 0 (periods are calendar months, YYYY-MM)."""
    year, month = period.split("-")
    return int(year) * 12 + int(month) - 1


def window(statements: Sequence[tuple[int, Statement]]) -> Window:
    """The model's six slots from statements keyed by month index, in any order: slot 0 is the latest month, and a
    month with no statement inside the window stays unknown (NaN), as a month the loan had not reached does."""
    status, balance, paid = ([np.nan] * MONTHS for _ in range(3))
    latest = max((month for month, _ in statements), default=0)
    for month, statement in statements:
        slot = latest - month
        if slot < MONTHS:
            status[slot], balance[slot], paid[slot] = statement.status, statement.balance, statement.paid
    return tuple(status), tuple(balance), tuple(paid)


def encode(origination: Origination, statements: Sequence[Statement]) -> np.ndarray:
    """One loan's row; `statements` oldest first (as they arrive), only the last six count."""
    recent = list(statements)[-MONTHS:][::-1]
    window = np.full((3, 1, MONTHS), np.nan)
    for slot, statement in enumerate(recent):
        window[:, 0, slot] = (statement.status, statement.balance, statement.paid)
    status, balance, paid = window
    return encode_many(
        np.array([origination.limit]),
        np.array([origination.age], dtype=np.float64),
        np.array([origination.education], dtype=np.float64),
        status,
        balance,
        paid,
    )[0]

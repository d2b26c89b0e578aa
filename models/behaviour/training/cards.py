"""The shipped card-holder histories (data/taiwan_credit_card_default.csv) as loans whose months arrive one by one.

Each row is six months of one card holder, April to September 2005, and whether they defaulted in October.
A loan that has been open `k` months has seen April to the k-th month: `history(cards, k)` is that view of
every loan, the most recent month first, as the features expect it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from finfer import paths
from finfer.models.behaviour.features import MONTHS, encode_many

# Oldest first: the order in which statements arrive.
MONTH_NAMES = ("apr", "may", "jun", "jul", "aug", "sep")


@dataclass(frozen=True)
class Cards:
    limit: np.ndarray
    age: np.ndarray
    education: np.ndarray
    status: np.ndarray  # (loans, 6), oldest month first
    balance: np.ndarray
    paid: np.ndarray
    defaulted: np.ndarray  # 1: defaulted the month after the last statement

    def __len__(self) -> int:
        return len(self.limit)

    def take(self, rows: np.ndarray) -> Cards:
        return Cards(*(getattr(self, name)[rows] for name in self.__dataclass_fields__))

    def history(self, months: int) -> np.ndarray:
        """Every loan's features after its first `months` statements (0: what was known at origination)."""
        window = [np.full((len(self), MONTHS), np.nan) for _ in range(3)]
        for recent, month in enumerate(range(months - 1, -1, -1)):
            for target, source in zip(window, (self.status, self.balance, self.paid), strict=True):
                target[:, recent] = source[:, month]
        return encode_many(self.limit, self.age, self.education, *window)


def load(path: Path = paths.TAIWAN_CARDS_CSV) -> Cards:
    import pandas as pd

    frame = pd.read_csv(path)

    def months(prefix: str) -> np.ndarray:
        return frame[[f"{prefix}_{m}" for m in MONTH_NAMES]].to_numpy(dtype=np.float64)

    return Cards(
        limit=frame["limit_bal"].to_numpy(dtype=np.float64),
        age=frame["age"].to_numpy(dtype=np.float64),
        education=frame["education"].to_numpy(dtype=np.float64),
        status=months("pay_status"),
        balance=months("bill"),
        paid=months("paid"),
        defaulted=frame["default_next_month"].to_numpy(dtype=np.int64),
    )


def example_loans(n: int, seed: int, last_period: str = "2026-09") -> list[dict]:
    """`n` distinct loans as the scoring API takes them: card holders at random history lengths, their months
    dated so that September is `last_period` (the bench's and tests' requests)."""
    from finfer.models.behaviour.features import month_index

    cards = load()
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(cards), size=min(n, len(cards)), replace=False)
    end = month_index(last_period)
    loans = []
    for i in picked:
        months = int(rng.integers(0, MONTHS + 1))
        statements = [
            {
                "period": f"{(end - 5 + m) // 12:04d}-{(end - 5 + m) % 12 + 1:02d}",
                "balance": max(float(cards.balance[i, m]), 0.0),
                "paid": float(cards.paid[i, m]),
                "status": int(cards.status[i, m]),
            }
            for m in range(months)
        ]
        origination = {"limit": float(cards.limit[i]), "age": int(cards.age[i]), "education": int(cards.education[i])}
        loans.append({"origination": origination, "statements": statements})
    return loans

"""What the decision is made of: findings, each with the outcome the policy gives it."""

from __future__ import annotations

from dataclasses import dataclass

from finfer.application.policy import Outcome


@dataclass(frozen=True)
class Declared:
    """What the applicant states; every field optional. Validated for shape by the request codec."""

    id_number: str | None = None
    vin: str | None = None
    plate: str | None = None
    amount: float | None = None
    term_months: int | None = None
    name: str | None = None  # the applicant's, against a vehicle's owner on its papers
    monthly_income: float | None = None  # yuan
    vehicle_price: float | None = None  # yuan


@dataclass(frozen=True)
class Finding:
    code: str
    text: str  # never holds the personal values compared (ID numbers, VINs): only where they differ
    source: str  # the branch it comes from: risk, fraud, documents, damage, intent, declared
    outcome: Outcome

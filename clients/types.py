"""Typed answers of the SDK."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Reason:
    feature: str
    value: str
    contribution: float
    text: str


@dataclass(frozen=True)
class RiskScore:
    probability_of_default: float
    grade: str
    reasons: tuple[Reason, ...]
    model_version: str
    request_id: str
    cached: bool

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> RiskScore:
        return cls(
            probability_of_default=body["probability_of_default"],
            grade=body["grade"],
            reasons=tuple(Reason(**r) for r in body["reasons"]),
            model_version=body["model_version"],
            request_id=body["request_id"],
            cached=body["cached"],
        )

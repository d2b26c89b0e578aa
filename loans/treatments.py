"""The collections policy: a versioned TOML file (default_treatments.toml) that maps a loan's band, days past due,
balance and latest message intent to a treatment, validated before anything serves with it."""

from __future__ import annotations

import bisect
import tomllib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from finfer.application.policy import PolicyError, named
from finfer.models.intent.labels import INTENTS

DEFAULT_TREATMENTS = Path(__file__).with_name("default_treatments.toml")
DAYS_A_MONTH = 30  # the repayment status counts months late


class Action(StrEnum):
    NONE = "none"
    REMINDER = "reminder"
    CALL = "call"
    DEFERRAL_OFFER = "deferral_offer"
    RESTRUCTURING_OFFER = "restructuring_offer"
    COLLECTOR = "collector"


Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


class Band(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    below: Annotated[float, Field(gt=0)]


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Action
    reason: Annotated[str, Field(min_length=1, max_length=200)]
    bands: tuple[Name, ...] | None = None
    intents: tuple[str, ...] | None = None
    min_days_past_due: Annotated[int, Field(ge=0)] = 0
    min_balance: Annotated[float, Field(ge=0)] = 0.0


@dataclass(frozen=True)
class Situation:
    """What the policy reads of a loan after a statement."""

    probability: float
    status: int | None  # the latest statement's repayment status; None before the first
    balance: float
    intent: str | None


@dataclass(frozen=True)
class Treatment:
    action: str
    band: str
    reason: str


class Treatments(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[str, Field(min_length=1, max_length=64)]
    bands: Annotated[tuple[Band, ...], Field(min_length=1)]
    warning_bands: Annotated[tuple[Name, ...], Field(min_length=1)]
    rules: tuple[Rule, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Treatments:
        bounds = [b.below for b in self.bands]
        if bounds != sorted(set(bounds)):
            raise PolicyError("bands", "must rise strictly, lowest first")
        if bounds[-1] <= 1:
            raise PolicyError("bands", "the last band must hold probability 1 (its `below` above 1)")
        names = [b.name for b in self.bands]
        for key, used in [("warning_bands", self.warning_bands)] + [
            (f"rules.{i}.bands", rule.bands or ()) for i, rule in enumerate(self.rules)
        ]:
            for name in used:
                if name not in names:
                    raise PolicyError(key, f"{name!r} is not a band; bands: {', '.join(names)}")
        for i, rule in enumerate(self.rules):
            for intent in rule.intents or ():
                if intent not in INTENTS:
                    raise PolicyError(f"rules.{i}.intents", f"{intent!r} is not an intent; known: {', '.join(INTENTS)}")
        return self

    def band(self, probability: float) -> str:
        return self.bands[bisect.bisect_right([b.below for b in self.bands], probability)].name

    def warning_from(self) -> float:
        """The lowest probability in a warning band."""
        names = [b.name for b in self.bands]
        first = min(names.index(name) for name in self.warning_bands)
        return 0.0 if first == 0 else self.bands[first - 1].below

    def treat(self, loan: Situation) -> Treatment:
        band = self.band(loan.probability)
        days = max(loan.status or 0, 0) * DAYS_A_MONTH
        for rule in self.rules:
            if rule.bands is not None and band not in rule.bands:
                continue
            if rule.intents is not None and loan.intent not in rule.intents:
                continue
            if days < rule.min_days_past_due or loan.balance < rule.min_balance:
                continue
            return Treatment(str(rule.action), band, rule.reason)
        return Treatment(str(Action.NONE), band, "no rule applies")


def parse_treatments(text: str, source: str = "treatments") -> Treatments:
    try:
        raw: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError("", f"{source} is not valid TOML: {exc}") from None
    try:
        return Treatments.model_validate(raw)
    except ValidationError as exc:
        raise named(exc) from None


def load_treatments(path: Path = DEFAULT_TREATMENTS) -> Treatments:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError("", f"cannot read the treatments policy {path}: {exc.strerror}") from None
    return parse_treatments(text, str(path))

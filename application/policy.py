"""The decision policy: a versioned TOML file a lender edits, validated before anything serves with it.

A bad policy is refused with the key that is wrong (`risk.decline_from: ...`), so `finfer serve` and
Triton's `loan_application` model stop at start instead of deciding with it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

# The loan_application step also runs in NGC's Triton image, whose Python is 3.10.
if sys.version_info >= (3, 11):  # noqa: UP036
    import tomllib
    from enum import StrEnum
else:  # pragma: no cover - exercised by the 3.10 compile check and the image
    from enum import Enum

    import tomli as tomllib

    class StrEnum(str, Enum):  # noqa: UP042 - enum.StrEnum is new in 3.11
        def __str__(self) -> str:
            return self.value


DEFAULT_POLICY = Path(__file__).with_name("default_policy.toml")
# A policy file that replaces the one built into the repository, for the front and Triton's application step
# alike: on Kubernetes, the ConfigMap both pods mount, so a new policy rolls out without a new image.
POLICY_FILE_VARIABLE = "FINFER_POLICY_FILE"


def policy_in_force(built: Path) -> Path:
    """The policy file to serve: FINFER_POLICY_FILE where set, else `built` (the repository's)."""
    override = os.environ.get(POLICY_FILE_VARIABLE)
    return Path(override) if override else built


class Outcome(StrEnum):
    """What a finding means for the application; the decision is the most severe of them."""

    APPROVE = "approve"
    REVIEW = "review"
    DECLINE = "decline"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Outcome.APPROVE: 0, Outcome.REVIEW: 1, Outcome.DECLINE: 2}


class Failure(StrEnum):
    """What a failed branch means: never approve."""

    REVIEW = "review"
    DECLINE = "decline"


# Every finding a cross-check can raise, and what it means unless the policy says otherwise.
CHECK_CODES: dict[str, Outcome] = {
    "ID_MISMATCH": Outcome.DECLINE,
    "ID_CHECKSUM": Outcome.REVIEW,
    "VIN_MISMATCH": Outcome.REVIEW,
    "VIN_CHECK_DIGIT": Outcome.REVIEW,
    "PLATE_MISMATCH": Outcome.REVIEW,
    "AMOUNT_MISMATCH": Outcome.REVIEW,
    "FIELD_UNREAD": Outcome.REVIEW,
    "SEVERE_DAMAGE": Outcome.REVIEW,
    "INTENT_CONTRADICTS": Outcome.REVIEW,
    "MESSAGE_AMOUNT_MISMATCH": Outcome.REVIEW,
    "MESSAGE_TERM_MISMATCH": Outcome.REVIEW,
    "AMOUNT_OVER_LIMIT": Outcome.DECLINE,
    "TERM_OVER_LIMIT": Outcome.DECLINE,
    "CHECKSUM_INVALID": Outcome.REVIEW,
    "DOCUMENT_EXPIRED": Outcome.REVIEW,
    "DOCUMENT_UNCLASSIFIED": Outcome.REVIEW,
    "KIND_MISMATCH": Outcome.REVIEW,
    "OWNER_MISMATCH": Outcome.REVIEW,
    "PRICE_MISMATCH": Outcome.REVIEW,
    "LOAN_TO_VALUE": Outcome.REVIEW,
    "INCOME_MISMATCH": Outcome.REVIEW,
    "INCOME_UNVERIFIED": Outcome.REVIEW,
}

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
_STRICT = ConfigDict(extra="forbid", frozen=True)


class PolicyError(ValueError):
    """The policy cannot be used; `key` is the dotted key at fault (`branches.fraud.deadline_ms`)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


class RiskBands(BaseModel):
    model_config = _STRICT
    approve_below: Probability = 0.20
    decline_from: Probability = 0.55
    review_grades: tuple[str, ...] = ()
    decline_grades: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _ordered(self) -> RiskBands:
        if self.approve_below > self.decline_from:
            raise PolicyError("decline_from", f"must be at least approve_below ({self.approve_below})")
        return self


class FraudBands(BaseModel):
    model_config = _STRICT
    review_from: Probability = 0.5
    decline_from: Probability = 0.9
    decline_known_fraud_neighbours: Annotated[int, Field(ge=0)] = 0

    @model_validator(mode="after")
    def _ordered(self) -> FraudBands:
        if self.review_from > self.decline_from:
            raise PolicyError("decline_from", f"must be at least review_from ({self.review_from})")
        return self


class Limits(BaseModel):
    model_config = _STRICT
    max_amount: Annotated[float, Field(gt=0)] = 1_000_000
    max_term_months: Annotated[int, Field(gt=0)] = 120


class Checks(BaseModel):
    model_config = _STRICT
    amount_tolerance: Annotated[float, Field(ge=0, le=1)] = 0.01
    message_amount_tolerance: Annotated[float, Field(ge=0)] = 0.3
    review_intents: tuple[str, ...] = ()
    severe_damage: tuple[str, ...] = ("severe",)
    # Self-proof documents (application/crosschecks.py).
    min_kind_confidence: Annotated[float, Field(ge=0, le=1)] = 0.6
    income_tolerance: Annotated[float, Field(ge=0)] = 0.2
    income_proof_from: Annotated[float, Field(ge=0)] = 20_000
    price_tolerance: Annotated[float, Field(ge=0, le=1)] = 0.02
    max_loan_to_value: Annotated[float, Field(gt=0)] = 0.9


class BranchPolicy(BaseModel):
    model_config = _STRICT
    deadline_ms: Annotated[int, Field(ge=1, le=60_000)] = 1000
    # An application must carry this branch's inputs; without them the branch counts as `on_missing`.
    required: bool = False
    on_failure: Failure = Failure.REVIEW
    on_missing: Outcome = Outcome.REVIEW

    @property
    def deadline_s(self) -> float:
        return self.deadline_ms / 1000


class Policy(BaseModel):
    model_config = _STRICT
    version: Annotated[str, Field(min_length=1, max_length=64)]
    risk: RiskBands = RiskBands()
    fraud: FraudBands = FraudBands()
    limits: Limits = Limits()
    checks: Checks = Checks()
    outcomes: dict[str, Outcome] = {}
    branches: dict[str, BranchPolicy] = {}

    def outcome(self, code: str) -> Outcome:
        return self.outcomes.get(code, CHECK_CODES[code])

    def branch(self, name: str) -> BranchPolicy:
        return self.branches[name]


def parse_policy(text: str, branches: Sequence[str], source: str = "policy") -> Policy:
    """The policy in `text`, every branch of `branches` given its settings (defaults where the file is silent)."""
    try:
        raw: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError("", f"{source} is not valid TOML: {exc}") from None
    try:
        policy = Policy.model_validate(raw)
    except ValidationError as exc:
        raise named(exc) from None
    for code in policy.outcomes:
        if code not in CHECK_CODES:
            raise PolicyError(f"outcomes.{code}", f"is not a known finding; known: {', '.join(CHECK_CODES)}")
    for name in policy.branches:
        if name not in branches:
            raise PolicyError(f"branches.{name}", f"is not a branch; branches: {', '.join(branches)}")
    filled = {name: policy.branches.get(name, BranchPolicy()) for name in branches}
    return policy.model_copy(update={"branches": filled})


def load_policy(path: Path, branches: Sequence[str]) -> Policy:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError("", f"cannot read the policy {path}: {exc.strerror}") from None
    return parse_policy(text, branches, str(path))


def named(exc: ValidationError) -> PolicyError:
    """pydantic's first complaint as `dotted.key: what is wrong`."""
    error = exc.errors(include_url=False)[0]
    key = ".".join(str(p) for p in error["loc"])
    if error["type"] == "missing":
        return PolicyError(key, "is required")
    if error["type"] == "extra_forbidden":
        return PolicyError(key, "is not a known key")
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, PolicyError):
        # A cross-field rule names its own key inside the section pydantic points at.
        return PolicyError(".".join(filter(None, (key, cause.key))), str(cause).split(": ", 1)[-1])
    return PolicyError(key, error["msg"][0].lower() + error["msg"][1:])

"""The decision: findings from every branch, then the most severe outcome among them, with its reasons.

Reasons come in the order a reviewer reads them: declines first, then reviews, each group in branch
order; a risk band's finding is followed by the model's own reason codes, which explain it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from finfer.application import crosschecks
from finfer.application.findings import Declared, Finding
from finfer.application.policy import Outcome, Policy, StrEnum


class Status(StrEnum):
    """How a branch of the application went."""

    OK = "ok"
    SKIPPED = "skipped"  # the application has no inputs for it
    TIMEOUT = "timeout"  # it missed its deadline
    FAILED = "failed"  # its model answered an error or could not be reached


@dataclass(frozen=True)
class Branches:
    """Every branch's status and, where it answered, its result (the single endpoint's result type)."""

    status: Mapping[str, Status]
    risk: Any = None
    fraud: Any = None
    documents: Sequence[tuple[str, Any]] = ()  # (kind, Document)
    damage: Sequence[Any] = ()
    intent: Any = None
    errors: Mapping[str, str] | None = None  # branch → what went wrong, for the reason's text


@dataclass(frozen=True)
class Decision:
    decision: Outcome
    reasons: list[Finding]


def risk_findings(policy: Policy, risk: Any) -> list[Finding]:
    bands, pd, grade = policy.risk, risk.probability_of_default, risk.grade
    if pd >= bands.decline_from or grade in bands.decline_grades:
        outcome = Outcome.DECLINE
    elif pd >= bands.approve_below or grade in bands.review_grades:
        outcome = Outcome.REVIEW
    else:
        return []
    band = Finding(
        f"RISK_{outcome.upper()}",
        f"probability of default {pd:.1%} (grade {grade}) is in the {outcome} band",
        "risk",
        outcome,
    )
    explained = [Finding(f"RISK_{r.feature.upper()}", r.text, "risk", outcome) for r in risk.reasons]
    return [band, *explained]


def fraud_findings(policy: Policy, fraud: Any) -> list[Finding]:
    bands, p = policy.fraud, fraud.fraud_probability
    known = fraud.evidence.known_fraud_neighbours
    found = []
    if bands.decline_known_fraud_neighbours and known >= bands.decline_known_fraud_neighbours:
        text = f"the application shares links with {known} known fraud cases"
        found.append(Finding("FRAUD_KNOWN_RING", text, "fraud", Outcome.DECLINE))
    if p >= bands.decline_from:
        found.append(
            Finding("FRAUD_DECLINE", f"fraud-ring probability {p:.1%} is in the decline band", "fraud", Outcome.DECLINE)
        )
    elif p >= bands.review_from:
        found.append(
            Finding("FRAUD_REVIEW", f"fraud-ring probability {p:.1%} is in the review band", "fraud", Outcome.REVIEW)
        )
    return found


def branch_findings(policy: Policy, branches: Branches) -> list[Finding]:
    found = []
    errors = branches.errors or {}
    for name, status in branches.status.items():
        rules = policy.branch(name)
        if status in (Status.TIMEOUT, Status.FAILED):
            detail = f": {errors[name]}" if name in errors else ""
            text = (
                f"the {name} branch missed its {rules.deadline_ms} ms deadline"
                if status is Status.TIMEOUT
                else f"the {name} branch failed{detail}"
            )
            found.append(Finding(f"BRANCH_{status.upper()}", text, name, Outcome(rules.on_failure)))
        elif status is Status.SKIPPED and rules.required:
            text = f"the application has no {name} inputs, which the policy requires"
            found.append(Finding("BRANCH_MISSING", text, name, rules.on_missing))
    return found


def findings(policy: Policy, declared: Declared, branches: Branches) -> list[Finding]:
    found = []
    if branches.risk is not None:
        found += risk_findings(policy, branches.risk)
    if branches.fraud is not None:
        found += fraud_findings(policy, branches.fraud)
    found += crosschecks.document_findings(policy, declared, branches.documents)
    found += crosschecks.damage_findings(policy, branches.damage)
    if branches.intent is not None:
        found += crosschecks.intent_findings(policy, declared, branches.intent)
    found += crosschecks.declared_findings(policy, declared)
    found += branch_findings(policy, branches)
    return found


def decide(policy: Policy, declared: Declared, branches: Branches) -> Decision:
    found = findings(policy, declared, branches)
    reasons = sorted(
        (f for f in found if f.outcome is not Outcome.APPROVE), key=lambda f: -f.outcome.severity
    )  # stable: branch order within a group
    decision = reasons[0].outcome if reasons else Outcome.APPROVE
    return Decision(decision, reasons)

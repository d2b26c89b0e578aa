"""The checks a reviewer does by hand, each a finding: documents against the declaration, damage, the message.

Inputs are the pipelines' own results (finfer.pipelines.documents.Document, .damage.Damage,
.intent.Intent), read by attribute, so these run without a server.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from finfer.application.findings import Declared, Finding
from finfer.application.policy import Policy
from finfer.models.documents.kinds import UNKNOWN, FieldSpec, Role, Type, kind, kind_mismatch
from finfer.models.documents.values import CHECKED, LONG_TERM
from finfer.models.ocr.fields import id_number_is_valid, normalise, vin_is_valid


def _finding(policy: Policy, code: str, text: str, source: str) -> Finding:
    return Finding(code, text, source, policy.outcome(code))


def _same_plate(a: str, b: str) -> bool:
    return a.replace("·", "").replace(" ", "").upper() == b.replace("·", "").replace(" ", "").upper()


def _ends(period: str) -> datetime.date | None:
    """A period's last day (YYYY-MM-DD/YYYY-MM-DD); None when it runs without end."""
    end = period.split("/")[-1]
    return None if end == LONG_TERM else datetime.date.fromisoformat(end)


def document_findings(
    policy: Policy, declared: Declared, documents: Sequence[tuple[str | None, Any]], today: datetime.date | None = None
) -> list[Finding]:
    """`documents`: (declared kind or None, Document) in request order. Each page is judged as the kind
    recognised; the checks across pages (VINs that disagree, income shown anywhere) come last."""
    today = today or datetime.date.today()
    found: list[Finding] = []
    vins: dict[str, list[str]] = {}
    incomes: list[float] = []

    def add(code: str, text: str) -> None:
        found.append(_finding(policy, code, text, "documents"))

    for i, (claimed, document) in enumerate(documents):
        where = f"documents[{i}] ({document.kind})"
        if document.kind == UNKNOWN or document.kind_confidence < policy.checks.min_kind_confidence:
            text = (
                f"documents[{i}]: not recognised as a known kind (best {document.kind}, {document.kind_confidence:.2f})"
            )
            add("DOCUMENT_UNCLASSIFIED", text)
            continue
        mismatch = kind_mismatch(claimed, document.kind)
        if mismatch is not None:
            add("KIND_MISMATCH", f"documents[{i}]: {mismatch}")
        catalogued = kind(document.kind)
        for spec in catalogued.fields:
            read = document.fields.get(spec.name)
            if read is None:
                add("FIELD_UNREAD", f"{where}: no {spec.name.replace('_', ' ')} could be read")
                continue
            if spec.type in CHECKED and not read.valid:
                add("CHECKSUM_INVALID", f"{where}: the {spec.name.replace('_', ' ')} read fails its check character")
                continue
            if spec.type is Type.VIN:
                vins.setdefault(read.value, []).append(where)
            found += _field_findings(policy, declared, spec, read, where, today)
            if spec.role is Role.INCOME:
                incomes.append(float(read.value))
    if len(vins) > 1:
        add("VIN_MISMATCH", f"the documents name {len(vins)} different VINs: {'; '.join(w[0] for w in vins.values())}")
    found += _income_findings(policy, declared, incomes)
    return found


def _field_findings(
    policy: Policy, declared: Declared, spec: FieldSpec, read: Any, where: str, today: datetime.date
) -> list[Finding]:
    """One field read valid, against what the applicant declared. The finding's text never holds the
    personal values compared (ID numbers, VINs, names): only where they differ."""
    out: list[Finding] = []

    def add(code: str, text: str) -> None:
        out.append(_finding(policy, code, f"{where}: {text}", "documents"))

    if spec.role is Role.APPLICANT_ID and declared.id_number is not None and read.value != declared.id_number:
        add("ID_MISMATCH", f"the {spec.name.replace('_', ' ')} read differs from the declared ID number")
    elif spec.type is Type.VIN and declared.vin is not None and read.value != declared.vin:
        add("VIN_MISMATCH", "the VIN read differs from the declared one")
    elif spec.type is Type.PLATE and declared.plate is not None and not _same_plate(read.value, declared.plate):
        add("PLATE_MISMATCH", "the plate read differs from the declared one")
    elif spec.role is Role.OWNER and declared.name is not None and normalise(read.value) != normalise(declared.name):
        add("OWNER_MISMATCH", f"the {spec.name} named differs from the applicant")
    elif spec.role is Role.VALID_UNTIL and (end := _ends(read.value)) is not None and end < today:
        add("DOCUMENT_EXPIRED", f"its {spec.name} ended on {end.isoformat()}")
    elif spec.role is Role.LOAN_AMOUNT and declared.amount is not None:
        value = float(read.value)
        if abs(value - declared.amount) > policy.checks.amount_tolerance * declared.amount:
            add(
                "AMOUNT_MISMATCH",
                f"the contract's amount ({value:,.2f}) differs from the declared {declared.amount:,.2f}",
            )
    elif spec.role is Role.PRICE:
        price = float(read.value)
        if declared.vehicle_price is not None and abs(price - declared.vehicle_price) > (
            policy.checks.price_tolerance * declared.vehicle_price
        ):
            add(
                "PRICE_MISMATCH",
                f"the invoice's price ({price:,.2f}) differs from the declared {declared.vehicle_price:,.2f}",
            )
        if declared.amount is not None and price > 0 and declared.amount / price > policy.checks.max_loan_to_value:
            ratio = declared.amount / price
            add(
                "LOAN_TO_VALUE",
                f"the loan is {ratio:.0%} of the invoice's price (at most {policy.checks.max_loan_to_value:.0%})",
            )
    return out


def _income_findings(policy: Policy, declared: Declared, incomes: Sequence[float]) -> list[Finding]:
    income = declared.monthly_income
    if income is None:
        return []
    if not incomes:
        if income >= policy.checks.income_proof_from:
            text = f"a monthly income of {income:,.0f} is declared and no document shows income"
            return [_finding(policy, "INCOME_UNVERIFIED", text, "documents")]
        return []
    shown = max(incomes)
    if income > shown * (1 + policy.checks.income_tolerance):
        text = f"the declared monthly income {income:,.0f} is above the {shown:,.0f} the documents show"
        return [_finding(policy, "INCOME_MISMATCH", text, "documents")]
    return []


def damage_findings(policy: Policy, damages: Sequence[Any]) -> list[Finding]:
    return [
        _finding(policy, "SEVERE_DAMAGE", f"vehicle_photos[{i}]: {d.severity} {d.damage_type}", "damage")
        for i, d in enumerate(damages)
        if d.severity in policy.checks.severe_damage
    ]


def intent_findings(policy: Policy, declared: Declared, intent: Any) -> list[Finding]:
    found = []
    if intent.intent in policy.checks.review_intents:
        text = f"the customer's message reads as {intent.intent.replace('_', ' ')}"
        found.append(_finding(policy, "INTENT_CONTRADICTS", text, "intent"))
    named, term = intent.slots.amount, intent.slots.term_months
    tolerance = policy.checks.message_amount_tolerance
    if named is not None and declared.amount is not None and abs(named - declared.amount) > tolerance * declared.amount:
        text = f"the message names {named:,} yuan; the application declares {declared.amount:,.0f}"
        found.append(_finding(policy, "MESSAGE_AMOUNT_MISMATCH", text, "intent"))
    if term is not None and declared.term_months is not None and term != declared.term_months:
        text = f"the message names {term} months; the application declares {declared.term_months}"
        found.append(_finding(policy, "MESSAGE_TERM_MISMATCH", text, "intent"))
    return found


def declared_findings(policy: Policy, declared: Declared) -> list[Finding]:
    found = []
    if declared.id_number is not None and not id_number_is_valid(declared.id_number):
        found.append(_finding(policy, "ID_CHECKSUM", "the declared ID number fails its checksum", "declared"))
    if declared.vin is not None and not vin_is_valid(declared.vin):
        found.append(_finding(policy, "VIN_CHECK_DIGIT", "the declared VIN fails its check digit", "declared"))
    if declared.amount is not None and declared.amount > policy.limits.max_amount:
        text = f"the declared amount {declared.amount:,.0f} is over the limit {policy.limits.max_amount:,.0f}"
        found.append(_finding(policy, "AMOUNT_OVER_LIMIT", text, "declared"))
    if declared.term_months is not None and declared.term_months > policy.limits.max_term_months:
        text = f"the declared term {declared.term_months} months is over the limit {policy.limits.max_term_months}"
        found.append(_finding(policy, "TERM_OVER_LIMIT", text, "declared"))
    return found

"""The checks a reviewer does by hand, each a finding: documents against the declaration, damage, the message.

Inputs are the pipelines' own results (finfer.pipelines.documents.Document, .damage.Damage,
.intent.Intent), read by attribute, so these run without a server.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from finfer.application.findings import Declared, Finding
from finfer.application.policy import Policy
from finfer.models.ocr.fields import id_number_is_valid, vin_is_valid

# The fields a reviewer expects to read on each kind of document; one that OCR cannot find is a finding.
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "id_card": ("id_number",),
    "driving_licence": ("plate", "vin"),
    "contract": ("id_number", "amount", "vin"),
    "vin_plate": ("vin",),
}
DOCUMENT_KINDS = tuple(KIND_FIELDS)


def _finding(policy: Policy, code: str, text: str, source: str) -> Finding:
    return Finding(code, text, source, policy.outcome(code))


def _same_plate(a: str, b: str) -> bool:
    return a.replace("·", "").replace(" ", "").upper() == b.replace("·", "").replace(" ", "").upper()


def document_findings(policy: Policy, declared: Declared, documents: Sequence[tuple[str, Any]]) -> list[Finding]:
    """`documents`: (kind, Document) in request order."""
    found: list[Finding] = []

    def add(code: str, text: str) -> None:
        found.append(_finding(policy, code, text, "documents"))

    for i, (kind, document) in enumerate(documents):
        where = f"documents[{i}] ({kind})"
        fields = document.fields
        for name in KIND_FIELDS[kind]:
            if getattr(fields, name) is None:
                add("FIELD_UNREAD", f"{where}: no {name.replace('_', ' ')} could be read")
        id_number, vin, plate, amount = fields.id_number, fields.vin, fields.plate, fields.amount
        if id_number is not None and "id_number" in KIND_FIELDS[kind]:
            if not id_number.valid:
                add("ID_CHECKSUM", f"{where}: the ID number read fails its checksum")
            elif declared.id_number is not None and id_number.value != declared.id_number:
                add("ID_MISMATCH", f"{where}: the ID number read differs from the declared one")
        if vin is not None and "vin" in KIND_FIELDS[kind]:
            if not vin.valid:
                add("VIN_CHECK_DIGIT", f"{where}: the VIN read fails its check digit")
            elif declared.vin is not None and vin.value != declared.vin:
                add("VIN_MISMATCH", f"{where}: the VIN read differs from the declared one")
        checks_plate = plate is not None and "plate" in KIND_FIELDS[kind] and declared.plate is not None
        if checks_plate and not _same_plate(plate.value, declared.plate):
            add("PLATE_MISMATCH", f"{where}: the plate read differs from the declared one")
        if amount is not None and "amount" in KIND_FIELDS[kind] and declared.amount is not None:
            read = float(amount.value)
            if abs(read - declared.amount) > policy.checks.amount_tolerance * declared.amount:
                add(
                    "AMOUNT_MISMATCH",
                    f"{where}: the contract's amount ({read:,.2f}) differs from the declared {declared.amount:,.2f}",
                )
    return found


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

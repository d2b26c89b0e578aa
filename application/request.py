"""A loan application as the front and the `loan_application` step read it: validated once, into an
`ApplicationRow` holding each branch's row, and the JSON part (`wire`) the step reads beside the images."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from finfer.application.branches import BRANCH_NAMES
from finfer.application.findings import Declared
from finfer.errors import InvalidArgument
from finfer.loans.ids import ID_PATTERN, checked_loan_id
from finfer.models.documents.kinds import ACCEPTED as DOCUMENT_KINDS
from finfer.pipelines.declaration import Codec
from finfer.pipelines.fraud import ApplicationId, FraudRow
from finfer.pipelines.risk import ApplicantRow
from finfer.pipelines.validation import BASE64, Upload, checked_image, decoded_base64, first_error, object_with

# Pages of documents, and vehicle photos, a request: an application proves itself with several papers.
MAX_DOCUMENTS = 8
MAX_PHOTOS = 4

FIELDS = {"application_id", "applicant", "fraud", "declared", "documents", "vehicle_photos", "message", "loan_id"}

_PLATE = r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-HJ-NP-Z]·?[A-HJ-NP-Z0-9]{5,6}"
_STRICT = ConfigDict(extra="forbid", frozen=True, strict=True)


class DeclaredModel(BaseModel):
    model_config = _STRICT
    id_number: Annotated[str | None, Field(pattern=r"^[0-9]{17}[0-9X]$", description="18-character resident ID")] = None
    vin: Annotated[str | None, Field(pattern=r"^[0-9A-HJ-NPR-Z]{17}$", description="17 characters, no I, O or Q")] = (
        None
    )
    plate: Annotated[str | None, Field(pattern=f"^{_PLATE}$")] = None
    amount: Annotated[float | None, Field(gt=0, le=100_000_000, allow_inf_nan=False, description="yuan")] = None
    term_months: Annotated[int | None, Field(ge=1, le=600)] = None
    name: Annotated[str | None, Field(min_length=1, max_length=64, description="the applicant's name")] = None
    monthly_income: Annotated[float | None, Field(gt=0, le=100_000_000, allow_inf_nan=False, description="yuan")] = None
    vehicle_price: Annotated[float | None, Field(gt=0, le=100_000_000, allow_inf_nan=False, description="yuan")] = None

    @model_validator(mode="before")
    @classmethod
    def _integral_term(cls, values: object) -> object:
        # JSON Schema's integer admits 36.0; strict pydantic would not.
        term = values.get("term_months") if isinstance(values, dict) else None
        if isinstance(term, float) and term.is_integer():
            return {**values, "term_months": int(term)}
        return values


@dataclass(frozen=True)
class ApplicationRow:
    """One validated application: each branch's row (None or empty: the branch is skipped)."""

    application_id: str
    applicant: ApplicantRow
    fraud: FraudRow | None
    declared: Declared
    documents: tuple[tuple[str, Upload], ...]  # (kind, image)
    photos: tuple[Upload, ...]
    message: str | None
    wire: bytes  # the JSON part as Triton's loan_application reads it (images travel as tensors)
    loan_id: str | None = None  # the loan an approval opens (the store does, with the record: not Triton's part)

    def branch_rows(self, name: str) -> list[Any]:
        """What the branch `name` reads of this application (empty: it is skipped)."""
        return _BRANCH_ROWS[name](self)


# Each branch's rows in an application, by branch name (application/branches.py lists the branches).
_BRANCH_ROWS: dict[str, Callable[[ApplicationRow], list[Any]]] = {
    "risk": lambda row: [row.applicant],
    "fraud": lambda row: [row.fraud] if row.fraud else [],
    "documents": lambda row: [upload for _, upload in row.documents],
    "damage": lambda row: list(row.photos),
    "intent": lambda row: [row.message] if row.message is not None else [],
}
assert set(_BRANCH_ROWS) == set(BRANCH_NAMES), "every branch reads its rows from an application"


APPLICATION_ID = TypeAdapter(ApplicationId)


def checked_application_id(value: object) -> str:
    """An application id by the fraud graph's key rule, or a 400 naming `application_id`."""
    try:
        return APPLICATION_ID.validate_python(value)
    except ValidationError as exc:
        raise first_error(exc, "application_id") from None


def _image(item: object, where: str, also: frozenset[str] = frozenset()) -> Upload:
    """One image of the application: `{"image_base64": str}` over HTTP, raw `image` bytes over gRPC;
    `also` names the item's other fields (a document's `kind`)."""
    if not isinstance(item, dict):
        raise InvalidArgument(f"{where}: must be an object with `image_base64`", where)
    unknown = sorted(set(item) - {"image_base64", "image"} - also)
    if unknown:
        raise InvalidArgument(f"{where}.{unknown[0]}: is not a known field", f"{where}.{unknown[0]}")
    if isinstance(item.get("image"), bytes):
        return checked_image(Upload(item["image"], f"{where}.image"))
    field = f"{where}.image_base64"
    return checked_image(Upload(decoded_base64(item.get("image_base64"), field), field))


def _images(value: object, field: str, most: int) -> list[object]:
    if not isinstance(value, list):
        raise InvalidArgument(f"{field}: must be a list", field)
    if len(value) > most:
        raise InvalidArgument(f"{field}: at most {most} images, got {len(value)}", field)
    return value


def parse(branches: Mapping[str, Codec], payload: object) -> ApplicationRow:
    """A whole application validated with each branch's own codec, so errors name the field as the single
    endpoints do, prefixed by where it sits in the application (`fraud.links.phone[0]`)."""
    body = object_with(payload, FIELDS, "`application_id` and `applicant`")
    if body.get("application_id") is None:
        raise InvalidArgument("application_id: is required", "application_id")
    application_id = checked_application_id(body["application_id"])
    if "applicant" not in body:
        raise InvalidArgument("applicant: is required (the credit file)", "applicant")
    applicant = branches["risk"].batch_row(body["applicant"], "applicant")
    fraud_row = None
    if body.get("fraud") is not None:
        part = object_with(body["fraud"], {"features", "links", "persist"}, "`features`")
        fraud_row = branches["fraud"].batch_row({"application_id": application_id, **part}, "fraud")
    try:
        declared = DeclaredModel.model_validate({} if body.get("declared") is None else body["declared"])
    except ValidationError as exc:
        raise first_error(exc, "declared") from None
    docs = []
    for i, item in enumerate(_images(body.get("documents", []), "documents", MAX_DOCUMENTS)):
        where = f"documents[{i}]"
        kind = item.get("kind") if isinstance(item, dict) else None
        if kind is not None and kind not in DOCUMENT_KINDS:
            raise InvalidArgument(
                f"{where}.kind: must be one of {', '.join(DOCUMENT_KINDS)}; got {kind!r}", f"{where}.kind"
            )
        docs.append((kind, _image(item, where, frozenset({"kind"}))))
    photos = tuple(
        _image(item, f"vehicle_photos[{i}]")
        for i, item in enumerate(_images(body.get("vehicle_photos", []), "vehicle_photos", MAX_PHOTOS))
    )
    message = body.get("message")
    if message is not None:
        message = branches["intent"].batch_row(message, "message")
    loan_id = None if body.get("loan_id") is None else checked_loan_id(body["loan_id"])
    wire = {
        "application_id": application_id,
        "applicant": body["applicant"],
        "fraud": body.get("fraud"),
        "declared": declared.model_dump(exclude_none=True),
        "document_kinds": [kind for kind, _ in docs],
        "message": message,
    }
    return ApplicationRow(
        application_id=application_id,
        applicant=applicant,
        fraud=fraud_row,
        declared=Declared(**declared.model_dump()),
        documents=tuple(docs),
        photos=photos,
        message=message,
        wire=orjson.dumps(wire),
        loan_id=loan_id,
    )


def request_schema(branches: Mapping[str, Codec]) -> dict[str, Any]:
    """JSON Schema of an application body, from each branch's own schema."""
    image = {
        "type": "object",
        "required": ["image_base64"],
        "additionalProperties": False,
        "properties": {"image_base64": BASE64},
    }
    document = {
        "type": "object",
        "required": ["image_base64"],
        "additionalProperties": False,
        "properties": {"kind": {"anyOf": [{"enum": list(DOCUMENT_KINDS)}, {"type": "null"}]}, **image["properties"]},
    }
    fraud_schema = branches["fraud"].request_schema()
    fraud_part = {k: v for k, v in fraud_schema.items() if k != "$defs"}
    fraud_part["properties"] = {k: v for k, v in fraud_part["properties"].items() if k != "application_id"}
    fraud_part["required"] = [r for r in fraud_part.get("required", []) if r != "application_id"]
    declared = DeclaredModel.model_json_schema()
    return {
        "type": "object",
        "required": ["application_id", "applicant"],
        "additionalProperties": False,
        "properties": {
            "application_id": APPLICATION_ID.json_schema(),
            "applicant": branches["risk"].request_schema(),
            # null reads as absent, as in the single endpoints' optional parts.
            "fraud": {"anyOf": [fraud_part, {"type": "null"}]},
            "declared": {"anyOf": [declared, {"type": "null"}]},
            "documents": {"type": "array", "maxItems": MAX_DOCUMENTS, "items": document},
            "vehicle_photos": {"type": "array", "maxItems": MAX_PHOTOS, "items": image},
            "message": {"anyOf": [branches["intent"].item_schema(), {"type": "null"}]},
            "loan_id": {
                "anyOf": [{"type": "string", "pattern": ID_PATTERN, "maxLength": 64}, {"type": "null"}],
                "description": "the loan to open when the application is approved (by the policy, or a reviewer)",
            },
        },
        "$defs": fraud_schema.get("$defs", {}),
    }

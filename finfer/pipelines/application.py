"""Loan applications, the complex path: one application → every model in parallel → a decision with reasons.

Served by the `loan_application` BLS model: it fans out to the other pipelines' Triton models, each
branch under its own deadline, then decides by the policy (finfer.application). The front validates
the whole application (so nothing half-done reaches the fraud graph) and sends Triton its JSON part
and its images; it never caches an answer, because the fraud graph changes between two calls.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from finfer.application import examples
from finfer.application.crosschecks import DOCUMENT_KINDS
from finfer.application.findings import Declared
from finfer.application.policy import Policy, load_policy
from finfer.errors import InvalidArgument
from finfer.pipelines import damage, documents, fraud, intent, risk
from finfer.pipelines.damage import Damage
from finfer.pipelines.declaration import Answer, Codec, Encoded, Outputs, Pipeline, Stored, Tensor
from finfer.pipelines.documents import Document
from finfer.pipelines.fraud import FraudScore
from finfer.pipelines.intent import Intent
from finfer.pipelines.risk import ApplicantRow, RiskScore, struct_to_dict
from finfer.pipelines.tensors import pack_strings
from finfer.pipelines.validation import (
    BASE64,
    Upload,
    checked_image,
    decoded_base64,
    first_error,
    object_with,
    valid_text,
)
from finfer.wire import finfer_pb2

# The pipelines an application fans out to, in the order reasons are reported.
BRANCHES: tuple[Pipeline, ...] = (risk.PIPELINE, fraud.PIPELINE, documents.PIPELINE, damage.PIPELINE, intent.PIPELINE)
BRANCH_NAMES = tuple(p.name for p in BRANCHES)  # what the policy's [branches.<name>] may name
MAX_IMAGES = 4  # documents, and vehicle photos, a request

FIELDS = {"application_id", "applicant", "fraud", "declared", "documents", "vehicle_photos", "message"}

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
    fraud: fraud.FraudRow | None
    declared: Declared
    documents: tuple[tuple[str, Upload], ...]  # (kind, image)
    photos: tuple[Upload, ...]
    message: str | None
    wire: bytes  # the JSON part as Triton's loan_application reads it (images travel as tensors)

    def branch_rows(self, name: str) -> list[Any]:
        rows = {
            "risk": [self.applicant],
            "fraud": [self.fraud] if self.fraud else [],
            "documents": [upload for _, upload in self.documents],
            "damage": list(self.photos),
            "intent": [self.message] if self.message is not None else [],
        }
        return rows[name]


@dataclass(frozen=True)
class DecisionReason:
    code: str
    text: str
    source: Annotated[str, Field(description="the branch it comes from, or `declared`")]


@dataclass(frozen=True)
class ApplicationDecision:
    decision: Literal["approve", "review", "decline"]
    reasons: Annotated[list[DecisionReason], Field(description="declines first, then reviews; branch order within")]
    branches: Annotated[dict[str, str], Field(description="branch → ok | skipped | timeout | failed")]
    degraded: Annotated[bool, Field(description="a branch timed out or failed")]
    model_versions: Annotated[dict[str, str], Field(description="of the branches that answered")]
    policy_version: str
    branch_ms: Annotated[dict[str, float], Field(description="branch → milliseconds inside the pipeline")]
    # Each branch's result as its own endpoint answers it; null or empty when the branch did not answer.
    risk: RiskScore | None = None
    fraud: FraudScore | None = None
    documents: Annotated[list[Document], Field(description="one per document, in request order")] = dataclasses.field(
        default_factory=list
    )
    damage: Annotated[list[Damage], Field(description="one per vehicle photo, in request order")] = dataclasses.field(
        default_factory=list
    )
    intent: Intent | None = None


ANSWER = TypeAdapter(ApplicationDecision)
APPLICATION_ID = TypeAdapter(fraud.ApplicationId)


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


def _images(value: object, field: str) -> list[object]:
    if not isinstance(value, list):
        raise InvalidArgument(f"{field}: must be a list", field)
    if len(value) > MAX_IMAGES:
        raise InvalidArgument(f"{field}: at most {MAX_IMAGES} images, got {len(value)}", field)
    return value


class ApplicationCodec(Codec[ApplicationRow, ApplicationDecision]):
    """Validates a whole application with each branch's own codec, so errors name the field as the
    single endpoints do, prefixed by where it sits in the application (`fraud.links.phone[0]`)."""

    def __init__(self, policy: Policy, branches: dict[str, Codec]) -> None:
        self.model_version = policy.version
        self.policy = policy
        self.branches = branches

    @classmethod
    def load(cls, repository: Path, meta: Path) -> ApplicationCodec:
        """The policy (validated: a bad one stops the start, naming its key) and every branch's codec."""
        missing = [p.name for p in BRANCHES if not p.is_built(repository)]
        if missing:
            raise FileNotFoundError(
                f"loan applications need every branch built; missing in {repository}: {', '.join(missing)}"
            )
        policy = load_policy(meta, BRANCH_NAMES)
        return cls(policy, {p.name: p.load(repository) for p in BRANCHES})

    def row(self, payload: object) -> ApplicationRow:
        body = object_with(payload, FIELDS, "`application_id` and `applicant`")
        if body.get("application_id") is None:
            raise InvalidArgument("application_id: is required", "application_id")
        application_id = checked_application_id(body["application_id"])
        if "applicant" not in body:
            raise InvalidArgument("applicant: is required (the credit file)", "applicant")
        applicant = self.branches["risk"].batch_row(body["applicant"], "applicant")
        fraud_row = None
        if body.get("fraud") is not None:
            part = object_with(body["fraud"], {"features", "links", "persist"}, "`features`")
            fraud_row = self.branches["fraud"].validated({"application_id": application_id, **part}, "fraud")
        try:
            declared = DeclaredModel.model_validate({} if body.get("declared") is None else body["declared"])
        except ValidationError as exc:
            raise first_error(exc, "declared") from None
        docs = []
        for i, item in enumerate(_images(body.get("documents", []), "documents")):
            where = f"documents[{i}]"
            kind = item.get("kind") if isinstance(item, dict) else None
            if kind not in DOCUMENT_KINDS:
                raise InvalidArgument(
                    f"{where}.kind: must be one of {', '.join(DOCUMENT_KINDS)}; got {kind!r}", f"{where}.kind"
                )
            docs.append((kind, _image(item, where, frozenset({"kind"}))))
        photos = tuple(
            _image(item, f"vehicle_photos[{i}]")
            for i, item in enumerate(_images(body.get("vehicle_photos", []), "vehicle_photos"))
        )
        message = body.get("message")
        if message is not None:
            message = valid_text(message, "message", self.branches["intent"].max_chars)
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
        )

    def from_tensors(self, wire: bytes, images: Sequence[bytes], photos: Sequence[bytes]) -> ApplicationRow:
        """The row again inside Triton, from what `encode` sent: the same checks, so a client calling
        Triton directly is held to the same rules."""
        try:
            body = orjson.loads(wire)
        except orjson.JSONDecodeError:
            raise InvalidArgument("application: is not valid JSON", "application") from None
        kinds = body.pop("document_kinds", [])
        if not isinstance(kinds, list) or len(kinds) != len(images):
            raise InvalidArgument("document_images: one image per document kind", "document_images")
        body["documents"] = [{"kind": k, "image": data} for k, data in zip(kinds, images, strict=True)]
        body["vehicle_photos"] = [{"image": data} for data in photos]
        return self.row({k: v for k, v in body.items() if v is not None})

    def encode(self, rows: Sequence[ApplicationRow]) -> Encoded:
        (row,) = rows  # the BLS model takes one application a request
        encoded: Encoded = {"application": ((1,), pack_strings([row.wire]))}
        if row.documents:
            encoded["document_images"] = ((len(row.documents),), pack_strings([u.data for _, u in row.documents]))
        if row.photos:
            encoded["vehicle_photos"] = ((len(row.photos),), pack_strings([u.data for u in row.photos]))
        return encoded

    def decode(self, outputs: Outputs, rows: Sequence[ApplicationRow]) -> list[ApplicationDecision]:
        return [ANSWER.validate_json(outputs["answer"][0])]

    def request_schema(self) -> dict[str, Any]:
        image = {
            "type": "object",
            "required": ["image_base64"],
            "additionalProperties": False,
            "properties": {"image_base64": BASE64},
        }
        document = {
            "type": "object",
            "required": ["kind", "image_base64"],
            "additionalProperties": False,
            "properties": {"kind": {"enum": list(DOCUMENT_KINDS)}, **image["properties"]},
        }
        fraud_schema = self.branches["fraud"].request_schema()
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
                "applicant": self.branches["risk"].request_schema(),
                # null reads as absent, as in the single endpoints' optional parts.
                "fraud": {"anyOf": [fraud_part, {"type": "null"}]},
                "declared": {"anyOf": [declared, {"type": "null"}]},
                "documents": {"type": "array", "maxItems": MAX_IMAGES, "items": document},
                "vehicle_photos": {"type": "array", "maxItems": MAX_IMAGES, "items": image},
                "message": {"anyOf": [self.branches["intent"].text_schema(), {"type": "null"}]},
            },
            "$defs": fraud_schema.get("$defs", {}),
        }


def from_proto(request: finfer_pb2.LoanApplicationRequest) -> dict[str, Any]:
    """The HTTP body's shape (images as raw bytes under `image`), so one validator serves both protocols."""
    body: dict[str, Any] = {"application_id": request.application_id}
    if request.HasField("applicant"):
        body["applicant"] = struct_to_dict(request.applicant)
    if request.HasField("fraud"):
        body["fraud"] = fraud.scoring_fields(request.fraud)
    if request.HasField("declared"):
        declared = request.declared
        body["declared"] = {f.name: v for f, v in declared.ListFields()}
    body["documents"] = [{"kind": d.kind, "image": d.image} for d in request.documents]
    body["vehicle_photos"] = [{"image": data} for data in request.vehicle_photos]
    if request.HasField("message"):
        body["message"] = request.message
    return body


def proto_body(body: dict[str, Any]) -> dict[str, Any]:
    """An HTTP body as the JSON form of LoanApplicationRequest (bytes fields are base64 there too)."""
    out = dict(body)
    if "documents" in body:
        out["documents"] = [{"kind": d["kind"], "image": d["image_base64"]} for d in body["documents"]]
    if "vehicle_photos" in body:
        out["vehicle_photos"] = [p["image_base64"] for p in body["vehicle_photos"]]
    return out


def to_proto(answer: Answer[ApplicationDecision]) -> finfer_pb2.LoanApplicationResponse:
    result = answer.result

    def branch(pipeline: Pipeline, value: Any) -> Any:
        version = result.model_versions.get(pipeline.name, "")
        return pipeline.to_proto(Answer(Stored(b"", value), version, answer.request_id))

    return finfer_pb2.LoanApplicationResponse(
        decision=result.decision,
        reasons=[finfer_pb2.DecisionReason(code=r.code, text=r.text, source=r.source) for r in result.reasons],
        risk=branch(risk.PIPELINE, result.risk) if result.risk else None,
        fraud=branch(fraud.PIPELINE, result.fraud) if result.fraud else None,
        documents=[branch(documents.PIPELINE, d) for d in result.documents],
        damage=[branch(damage.PIPELINE, d) for d in result.damage],
        intent=branch(intent.PIPELINE, result.intent) if result.intent else None,
        branches=result.branches,
        degraded=result.degraded,
        model_versions=result.model_versions,
        policy_version=result.policy_version,
        branch_ms=result.branch_ms,
        **answer.envelope(),
    )


Digest = Callable[[str | bytes], str]
PERSONAL_FIELDS = ("id_number", "vin", "plate")  # of the declaration and of the documents read


def record(codec: ApplicationCodec, row: ApplicationRow, answer: Answer[ApplicationDecision], digest: Digest):
    """What the decision store keeps: the decision and why, every branch's result, the versions, the credit
    file (the next model's features), and the inputs only as keyed digests. Personal identifiers (ID number,
    VIN, plate, phones, devices, IPs) appear only as digests; images and the message not at all (their
    results do); a document's OCR lines are counted, not kept (they hold names and numbers)."""
    # The answer as plain JSON values, in one orjson round trip (ten times cheaper than dataclasses.asdict).
    result = orjson.loads(answer.stored.json)
    declared = {k: v for k, v in row.declared.__dict__.items() if v is not None}
    for name in PERSONAL_FIELDS:
        if name in declared:
            declared[name] = digest(declared[name])
    documents = []
    for (kind, _), document in zip(row.documents, result["documents"], strict=False):
        fields = {}
        for name, read in document["fields"].items():
            if read is not None:
                value = digest(read["value"]) if name in PERSONAL_FIELDS else read["value"]
                fields[name] = {"value": value, "valid": read["valid"], "confidence": read["confidence"]}
        documents.append({"kind": kind, "fields": fields, "lines": len(document["lines"])})
    fraud_links = {kind: [digest(v) for v in values] for kind, values in row.fraud.links.items()} if row.fraud else None
    return {
        "application_id": row.application_id,
        "request_id": answer.request_id,
        "decision": result["decision"],
        "reasons": result["reasons"],
        "branches": result["branches"],
        "degraded": result["degraded"],
        "model_versions": result["model_versions"],
        "policy_version": result["policy_version"],
        "branch_ms": result["branch_ms"],
        "results": {
            "risk": result["risk"],
            "fraud": result["fraud"],
            "documents": documents,
            "damage": result["damage"],
            "intent": result["intent"],
        },
        "credit_file": codec.branches["risk"].fields(row.applicant),
        "declared": declared,
        "fraud_links": fraud_links,
        "inputs": {
            "application": digest(row.wire),
            "documents": [digest(upload.data) for _, upload in row.documents],
            "vehicle_photos": [digest(upload.data) for upload in row.photos],
            "message": digest(row.message) if row.message is not None else None,
        },
    }


PIPELINE = Pipeline(
    name="application",
    triton_model="loan_application",
    inputs=(Tensor("application", "BYTES"), Tensor("document_images", "BYTES"), Tensor("vehicle_photos", "BYTES")),
    outputs=(Tensor("answer", "BYTES"),),
    family="application",
    exporter="finfer.exporters.application:ApplicationExporter",
    meta="loan_application/1/policy.toml",
    codec=ApplicationCodec,
    result=ApplicationDecision,
    http_path="/v1/applications",
    grpc_service="LoanApplications",
    grpc_method="Evaluate",
    summary=(
        "Evaluate one loan application with every model at once and decide: approve, review or decline, "
        "with reasons.\n\nBranches run in parallel, each under the policy's deadline; one that fails or is "
        "late is named in `branches` and the answer is `degraded`, never approved on its account. "
        "Never answered from a cache."
    ),
    from_proto=from_proto,
    to_proto=to_proto,
    examples=examples.applications,
    proto_body=proto_body,
    body_limit=lambda settings: settings.max_application_bytes,
    probe=examples.probe,
    tag="applications",
    scope="applications",
    record=record,
)

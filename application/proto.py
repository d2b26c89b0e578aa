"""A loan application over gRPC: the request as the HTTP body's shape (one validator serves both protocols),
and the answer as `LoanApplicationResponse`, each branch's result in its own endpoint's message."""

from __future__ import annotations

from typing import Any

from finfer.application.branches import BRANCHES
from finfer.pipelines.declaration import Answer, Pipeline, Stored
from finfer.pipelines.fraud import scoring_fields
from finfer.pipelines.risk import struct_to_dict
from finfer.wire import finfer_pb2


def from_proto(request: finfer_pb2.LoanApplicationRequest) -> dict[str, Any]:
    """The HTTP body's shape (images as raw bytes under `image`), so one validator serves both protocols."""
    body: dict[str, Any] = {"application_id": request.application_id}
    if request.HasField("applicant"):
        body["applicant"] = struct_to_dict(request.applicant)
    if request.HasField("fraud"):
        body["fraud"] = scoring_fields(request.fraud)
    if request.HasField("declared"):
        declared = request.declared
        body["declared"] = {f.name: v for f, v in declared.ListFields()}
    # An empty kind is a page sent without one: it is classified.
    body["documents"] = [{"kind": d.kind or None, "image": d.image} for d in request.documents]
    body["vehicle_photos"] = [{"image": data} for data in request.vehicle_photos]
    if request.HasField("message"):
        body["message"] = request.message
    if request.HasField("loan_id"):
        body["loan_id"] = request.loan_id
    return body


def proto_body(body: dict[str, Any]) -> dict[str, Any]:
    """An HTTP body as the JSON form of LoanApplicationRequest (bytes fields are base64 there too)."""
    out = dict(body)
    if "documents" in body:
        out["documents"] = [{"kind": d.get("kind") or "", "image": d["image_base64"]} for d in body["documents"]]
    if "vehicle_photos" in body:
        out["vehicle_photos"] = [p["image_base64"] for p in body["vehicle_photos"]]
    return out


def to_proto(answer: Answer) -> finfer_pb2.LoanApplicationResponse:
    result = answer.result

    def branch(pipeline: Pipeline, value: Any) -> Any:
        version = result.model_versions.get(pipeline.name, "")
        return pipeline.to_proto(Answer(Stored(b"", value), version, answer.request_id))

    results = {}
    for b in BRANCHES:
        value = getattr(result, b.name)
        if b.per_input:
            results[b.name] = [branch(b.pipeline, item) for item in value]
        elif value:
            results[b.name] = branch(b.pipeline, value)
    return finfer_pb2.LoanApplicationResponse(
        decision=result.decision,
        reasons=[finfer_pb2.DecisionReason(code=r.code, text=r.text, source=r.source) for r in result.reasons],
        **results,
        branches=result.branches,
        degraded=result.degraded,
        model_versions=result.model_versions,
        policy_version=result.policy_version,
        branch_ms=result.branch_ms,
        **answer.envelope(),
    )

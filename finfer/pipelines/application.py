"""Loan applications, the complex path: one application → every model in parallel → a decision with reasons.

Served by the `loan_application` BLS model: it fans out to the other pipelines' Triton models, each
branch under its own deadline, then decides by the policy. The front validates the whole application (so
nothing half-done reaches the fraud graph) and sends Triton its JSON part and its images; it never caches
an answer, because the fraud graph changes between two calls. The application's parts live in
finfer.application (its branches, request, answer, gRPC mapping, policy, fan-out); its record in the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from finfer.application import examples, proto
from finfer.application.answer import ANSWER, ApplicationDecision
from finfer.application.branches import BRANCH_NAMES, BRANCHES
from finfer.application.policy import Policy, load_policy, policy_in_force
from finfer.application.request import ApplicationRow, parse, request_schema
from finfer.errors import InvalidArgument
from finfer.pipelines.declaration import AdmissionBound, BuildTime, Codec, Encoded, Outputs, Pipeline, Stored, Tensor


class ApplicationCodec(Codec[ApplicationRow, ApplicationDecision]):
    """A whole application against every branch's codec (application/request.py), one a request."""

    def __init__(self, policy: Policy, branches: dict[str, Codec]) -> None:
        self.model_version = policy.version
        self.policy = policy
        self.branches = branches

    @classmethod
    def load(cls, repository: Path, meta: Path) -> ApplicationCodec:
        """The policy in force (validated: a bad one stops the start, naming its key) and every branch's codec."""
        missing = [b.name for b in BRANCHES if not b.pipeline.is_built(repository)]
        if missing:
            raise FileNotFoundError(
                f"loan applications need every branch built; missing in {repository}: {', '.join(missing)}"
            )
        policy = load_policy(policy_in_force(meta), BRANCH_NAMES)
        return cls(policy, {b.name: b.pipeline.load(repository) for b in BRANCHES})

    def row(self, payload: object) -> ApplicationRow:
        return parse(self.branches, payload)

    def heavy(self, row: ApplicationRow) -> bool:
        # Pages and photos are read by the OCR and damage models: seconds of CPU, where a credit file takes ms.
        return bool(row.documents or row.photos)

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
        encoded: Encoded = {"application": ((1,), [row.wire])}
        if row.documents:
            encoded["document_images"] = ((len(row.documents),), [u.data for _, u in row.documents])
        if row.photos:
            encoded["vehicle_photos"] = ((len(row.photos),), [u.data for u in row.photos])
        return encoded

    def decode(self, outputs: Outputs, rows: Sequence[ApplicationRow]) -> list[ApplicationDecision]:
        return [ANSWER.validate_json(outputs["answer"][0])]

    def stored(self, outputs: Outputs, rows: Sequence[ApplicationRow]) -> list[Stored[ApplicationDecision]]:
        # The step wrote the answer's JSON: it is checked against the answer's type and passed on as it came
        # (sent, and recorded, from these bytes), never rebuilt.
        (text,) = outputs["answer"]
        return [Stored(text.encode(), ANSWER.validate_json(text))]

    def request_schema(self) -> dict[str, Any]:
        return request_schema(self.branches)


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
    from_proto=proto.from_proto,
    to_proto=proto.to_proto,
    examples=examples.applications,
    proto_body=proto.proto_body,
    body_limit=lambda settings: settings.max_application_bytes,
    probe=examples.probe,
    build_time=BuildTime(full=2, small=2),
    composes=True,
    tag="applications",
    # Only applications carrying pages or photos count (ApplicationCodec.heavy). Two of the step's four
    # instances (APPLICATIONS_IN_FLIGHT) are then always left to applications without images.
    admission=AdmissionBound(in_flight=2, queue=8),
    scope="applications",
    record="finfer.store.application_record:record",
)

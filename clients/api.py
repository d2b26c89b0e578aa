"""The SDK's typed methods, one per declared route; each client supplies the transport (`_one`, `_many`).

Bodies are built in the HTTP API's shape; the gRPC clients turn them into the matching request
message with the declaration's `proto_body`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from finfer.clients.types import ApplicationDecision, Damage, Document, FraudScore, Intent, RiskScore
from finfer.pipelines import application, damage, documents, fraud, intent, risk
from finfer.pipelines.declaration import Pipeline

M = TypeVar("M", bound=BaseModel)
Body = dict[str, Any]


def _image(data: bytes) -> Body:
    return {"image_base64": base64.b64encode(data).decode()}


class Api:
    """The typed methods; a client supplies the transport (`_one`, `_many`). Each method only builds the body
    and returns what the transport gives, so the asyncio clients share them (AsyncApi)."""

    def _one(self, pipeline: Pipeline, body: Body, model: type[M]) -> M:
        raise NotImplementedError

    def _many(self, pipeline: Pipeline, items: list[Any], model: type[M]) -> list[M]:
        raise NotImplementedError

    def score(self, applicant: Mapping[str, Any]) -> RiskScore:
        """Probability of default, grade and reason codes of one applicant (raw fields by name)."""
        return self._one(risk.PIPELINE, dict(applicant), RiskScore)

    def score_batch(self, applicants: Sequence[Mapping[str, Any]]) -> list[RiskScore]:
        return self._many(risk.PIPELINE, [dict(a) for a in applicants], RiskScore)

    def score_fraud(self, application: Mapping[str, Any]) -> FraudScore:
        """Fraud-ring probability and evidence: `application_id`, `features`, `links`, `persist`."""
        return self._one(fraud.PIPELINE, dict(application), FraudScore)

    def classify(self, text: str) -> Intent:
        """Intent, slots and `needs_human` of one Chinese customer message."""
        return self._one(intent.PIPELINE, {"text": text}, Intent)

    def classify_batch(self, texts: Sequence[str]) -> list[Intent]:
        return self._many(intent.PIPELINE, list(texts), Intent)

    def read_document(self, image: bytes, kind: str | None = None) -> Document:
        """A JPEG/PNG page's kind, text lines and that kind's fields; `kind`, when given, is checked against
        the kind recognised (a mismatch is the finding KIND_MISMATCH in the answer)."""
        return self._one(documents.PIPELINE, {**_image(image), **({"kind": kind} if kind else {})}, Document)

    def assess_damage(self, image: bytes) -> Damage:
        """Damage type and severity of a JPEG/PNG photo of a car panel."""
        return self._one(damage.PIPELINE, _image(image), Damage)

    def evaluate_application(self, body: Mapping[str, Any]) -> ApplicationDecision:
        """Every model on one loan application, and the decision: `application_id`, `applicant`, and
        optionally `fraud`, `declared`, `documents`, `vehicle_photos`, `message`, and `loan_id` (the loan its
        approval opens) (the HTTP body's shape; see `application_body` for images as bytes)."""
        return self._one(application.PIPELINE, dict(body), ApplicationDecision)


class AsyncApi(Api):
    """Api's methods, each returning an awaitable of the same answer: the asyncio clients' `_one` and `_many`
    are coroutines, and every method only passes on what they return."""

    async def _one(self, pipeline: Pipeline, body: Body, model: type[M]) -> M:  # type: ignore[override]
        raise NotImplementedError

    async def _many(self, pipeline: Pipeline, items: list[Any], model: type[M]) -> list[M]:  # type: ignore[override]
        raise NotImplementedError


def application_body(
    application_id: str,
    applicant: Mapping[str, Any],
    *,
    fraud: Mapping[str, Any] | None = None,
    declared: Mapping[str, Any] | None = None,
    documents: Sequence[tuple[str | None, bytes]] = (),
    vehicle_photos: Sequence[bytes] = (),
    message: str | None = None,
) -> Body:
    """An application body from raw parts: documents as (kind or None, image bytes), photos as image bytes.
    A page's kind is optional: every page is classified, and a kind sent is checked against it."""
    body: Body = {"application_id": application_id, "applicant": dict(applicant)}
    if fraud is not None:
        body["fraud"] = dict(fraud)
    if declared is not None:
        body["declared"] = dict(declared)
    if documents:
        body["documents"] = [{**({"kind": kind} if kind else {}), **_image(data)} for kind, data in documents]
    if vehicle_photos:
        body["vehicle_photos"] = [_image(data) for data in vehicle_photos]
    if message is not None:
        body["message"] = message
    return body

"""gRPC adapter: the RiskScoring servicer converts protobuf ↔ dicts and awaits the same service layer."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Any

import grpc
from google.protobuf import struct_pb2

from finfer.clients import finfer_pb2, finfer_pb2_grpc
from finfer.front import metrics
from finfer.front.errors import FrontError, InvalidArgument
from finfer.front.fraud_service import FraudService
from finfer.front.image_service import DamageService, DocumentService
from finfer.front.intent_service import IntentService
from finfer.front.service import RiskService

ERROR_FIELD_KEY = "finfer-error-field"


def struct_to_dict(message: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct's top level as plain Python values; nested values stay as lists/dicts for validation to reject."""
    out: dict[str, Any] = {}
    for key, value in message.fields.items():
        kind = value.WhichOneof("kind")
        if kind == "number_value":
            out[key] = value.number_value
        elif kind == "string_value":
            out[key] = value.string_value
        elif kind == "bool_value":
            out[key] = value.bool_value
        elif kind == "null_value":
            out[key] = None
        elif kind == "list_value":
            out[key] = list(value.list_value.values)
        else:
            out[key] = dict(value.struct_value.fields)
    return out


def to_message(answer: dict[str, Any]) -> finfer_pb2.ScoreResponse:
    return finfer_pb2.ScoreResponse(
        probability_of_default=answer["probability_of_default"],
        grade=answer["grade"],
        reasons=[finfer_pb2.Reason(**r) for r in answer["reasons"]],
        model_version=answer["model_version"],
        request_id=answer["request_id"],
        cached=answer["cached"],
    )


def _request_id(context: grpc.aio.ServicerContext) -> str | None:
    return dict(context.invocation_metadata() or ()).get("x-request-id")


class RiskScoringServicer(finfer_pb2_grpc.RiskScoringServicer):
    def __init__(self, service: RiskService) -> None:
        self.service = service

    async def Score(self, request: finfer_pb2.ScoreRequest, context: grpc.aio.ServicerContext):  # noqa: N802
        return await timed("Score", context, self._score(request, context))

    async def ScoreBatch(self, request: finfer_pb2.ScoreBatchRequest, context: grpc.aio.ServicerContext):  # noqa: N802
        return await timed("ScoreBatch", context, self._score_batch(request, context))

    async def _score(self, request: finfer_pb2.ScoreRequest, context: grpc.aio.ServicerContext):
        if not request.HasField("applicant"):
            raise InvalidArgument("applicant: is required", "applicant")
        request_id = _request_id(context)
        raw = request.SerializeToString(deterministic=True)
        answer = self.service.cached(raw, request_id) or await self.service.score(
            struct_to_dict(request.applicant), request_id, raw=raw
        )
        return to_message(answer)

    async def _score_batch(self, request: finfer_pb2.ScoreBatchRequest, context: grpc.aio.ServicerContext):
        payload = {"applicants": [struct_to_dict(a) for a in request.applicants]}
        answer = await self.service.score_batch(payload, _request_id(context))
        return finfer_pb2.ScoreBatchResponse(
            results=[to_message(r) for r in answer["results"]],
            model_version=answer["model_version"],
            request_id=answer["request_id"],
        )


def fraud_request(request: finfer_pb2.FraudScoreRequest) -> dict[str, Any]:
    """The HTTP body's shape, so one validator names the same fields for both protocols."""
    links = request.links
    return {
        "application_id": request.application_id,
        "features": dict(request.features),
        "links": {"device": list(links.device), "phone": list(links.phone), "ip": list(links.ip)},
        "persist": request.persist,
    }


class FraudScoringServicer(finfer_pb2_grpc.FraudScoringServicer):
    def __init__(self, fraud: FraudService) -> None:
        self.fraud = fraud

    async def Score(self, request: finfer_pb2.FraudScoreRequest, context: grpc.aio.ServicerContext):  # noqa: N802
        return await timed("FraudScore", context, self._score(request, context))

    async def _score(self, request: finfer_pb2.FraudScoreRequest, context: grpc.aio.ServicerContext):
        answer = await self.fraud.score(fraud_request(request), _request_id(context))
        evidence = answer["evidence"]
        return finfer_pb2.FraudScoreResponse(
            fraud_probability=answer["fraud_probability"],
            basis=answer["basis"],
            evidence=finfer_pb2.FraudEvidence(
                shared=finfer_pb2.LinkCounts(**evidence["shared"]),
                neighbours=evidence["neighbours"],
                known_fraud_neighbours=evidence["known_fraud_neighbours"],
                suspicious_neighbours=evidence["suspicious_neighbours"],
            ),
            persisted=answer["persisted"],
            model_version=answer["model_version"],
            request_id=answer["request_id"],
        )


def intent_message(answer: dict[str, Any]) -> finfer_pb2.IntentResponse:
    slots = {k: v for k, v in answer["slots"].items() if v is not None}
    return finfer_pb2.IntentResponse(
        intent=answer["intent"],
        confidence=answer["confidence"],
        slots=finfer_pb2.IntentSlots(**slots),
        needs_human=answer["needs_human"],
        model_version=answer["model_version"],
        request_id=answer["request_id"],
        cached=answer["cached"],
    )


class CustomerIntentServicer(finfer_pb2_grpc.CustomerIntentServicer):
    def __init__(self, intent: IntentService) -> None:
        self.intent = intent

    async def Classify(self, request: finfer_pb2.IntentRequest, context: grpc.aio.ServicerContext):  # noqa: N802
        return await timed("IntentClassify", context, self._classify(request, context))

    async def ClassifyBatch(self, request: finfer_pb2.IntentBatchRequest, context: grpc.aio.ServicerContext):  # noqa: N802
        return await timed("IntentClassifyBatch", context, self._classify_batch(request, context))

    async def _classify(self, request: finfer_pb2.IntentRequest, context: grpc.aio.ServicerContext):
        return intent_message(await self.intent.classify({"text": request.text}, _request_id(context)))

    async def _classify_batch(self, request: finfer_pb2.IntentBatchRequest, context: grpc.aio.ServicerContext):
        answer = await self.intent.classify_batch({"texts": list(request.texts)}, _request_id(context))
        return finfer_pb2.IntentBatchResponse(
            results=[intent_message(r) for r in answer["results"]],
            model_version=answer["model_version"],
            request_id=answer["request_id"],
        )


def _points(box: list[list[float]]) -> list[finfer_pb2.Point]:
    return [finfer_pb2.Point(x=x, y=y) for x, y in box]


def document_message(answer: dict[str, Any]) -> finfer_pb2.DocumentResponse:
    return finfer_pb2.DocumentResponse(
        lines=[
            finfer_pb2.DocumentLine(text=line["text"], confidence=line["confidence"], box=_points(line["box"]))
            for line in answer["lines"]
        ],
        fields={
            name: finfer_pb2.DocumentField(
                value=f["value"], valid=f["valid"], confidence=f["confidence"], box=_points(f["box"])
            )
            for name, f in answer["fields"].items()
            if f is not None
        },
        model_version=answer["model_version"],
        request_id=answer["request_id"],
    )


class DocumentOcrServicer(finfer_pb2_grpc.DocumentOcrServicer):
    def __init__(self, documents: DocumentService) -> None:
        self.documents = documents

    async def Read(self, request: finfer_pb2.ImageRequest, context: grpc.aio.ServicerContext):  # noqa: N802
        answer = self.documents.read(request.image, "image", _request_id(context))
        return await timed("DocumentRead", context, _as(document_message, answer))


class VehicleDamageServicer(finfer_pb2_grpc.VehicleDamageServicer):
    def __init__(self, damage: DamageService) -> None:
        self.damage = damage

    async def Assess(self, request: finfer_pb2.ImageRequest, context: grpc.aio.ServicerContext):  # noqa: N802
        answer = self.damage.assess(request.image, "image", _request_id(context))
        return await timed("DamageAssess", context, _as(lambda a: finfer_pb2.DamageResponse(**a), answer))


async def _as(convert, answer: Awaitable[dict[str, Any]]) -> Any:
    return convert(await answer)


async def timed(method: str, context: grpc.aio.ServicerContext, call: Awaitable[Any]) -> Any:
    """Await one call and count it; a FrontError becomes its gRPC status, the field in trailing metadata."""
    started = time.perf_counter()
    status = "OK"
    try:
        return await call
    except FrontError as error:
        status = error.grpc_code.name
        if error.field:
            context.set_trailing_metadata(((ERROR_FIELD_KEY, error.field),))
        await context.abort(error.grpc_code, error.message)
    finally:
        metrics.REQUESTS.labels(method, "grpc", status).inc()
        metrics.REQUEST_LATENCY.labels(method, "grpc").observe(time.perf_counter() - started)


def create_server(
    service: RiskService,
    address: str,
    max_message_bytes: int,
    fraud: FraudService | None = None,
    intent: IntentService | None = None,
    documents: DocumentService | None = None,
    damage: DamageService | None = None,
) -> grpc.aio.Server:
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),
        ]
    )
    finfer_pb2_grpc.add_RiskScoringServicer_to_server(RiskScoringServicer(service), server)
    if fraud is not None:
        finfer_pb2_grpc.add_FraudScoringServicer_to_server(FraudScoringServicer(fraud), server)
    if intent is not None:
        finfer_pb2_grpc.add_CustomerIntentServicer_to_server(CustomerIntentServicer(intent), server)
    if documents is not None:
        finfer_pb2_grpc.add_DocumentOcrServicer_to_server(DocumentOcrServicer(documents), server)
    if damage is not None:
        finfer_pb2_grpc.add_VehicleDamageServicer_to_server(VehicleDamageServicer(damage), server)
    if server.add_insecure_port(address) == 0:
        raise OSError(f"cannot bind the gRPC front to {address}")
    return server

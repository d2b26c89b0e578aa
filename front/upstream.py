"""The front's connection to Triton: readiness and inference over Triton's gRPC API (tritonclient's stubs)."""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass

import grpc
from tritonclient.grpc import service_pb2, service_pb2_grpc

from finfer.front import metrics
from finfer.front.coalescer import Coalescer
from finfer.front.errors import InvalidArgument, Unavailable, UpstreamError
from finfer.front.fraud_schemas import FraudRow
from finfer.front.schemas import ApplicantRow
from finfer.front.triton_codec import pack_floats, pack_strings, unpack_numbers, unpack_strings
from finfer.settings import Settings

RISK_MODEL = "risk_score"
FRAUD_MODEL = "fraud_score"
INTENT_MODEL = "customer_intent"
DOCUMENT_MODEL = "document_ocr"
DAMAGE_MODEL = "vehicle_damage"
_TRANSIENT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}


@dataclass(frozen=True)
class FraudResult:
    fraud_probability: float
    shared: dict[str, list[int]]  # per kind, per link of the request
    neighbours: int
    known_fraud_neighbours: int
    suspicious_neighbours: list[str]


@dataclass(frozen=True)
class IntentResult:
    intent: str
    confidence: float
    amount: int | None
    term_months: int | None
    needs_human: bool


@dataclass(frozen=True)
class DocumentResult:
    lines: list[tuple[str, float, list[list[float]]]]  # text, confidence, four [x, y] corners
    fields: dict  # field name → {value, valid, confidence, box} or None


@dataclass(frozen=True)
class DamageResult:
    damage_type: str
    severity: str
    type_probabilities: list[float]
    severity_probabilities: list[float]


@dataclass(frozen=True)
class RiskResult:
    probability_of_default: float
    grade: str
    reasons: tuple[tuple[str, str, float, str], ...]  # feature, value, contribution, text


class TritonUpstream:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._channel: grpc.aio.Channel | None = None
        self._stub: service_pb2_grpc.GRPCInferenceServiceStub | None = None
        self._ready_at = -math.inf
        self._ready = False
        self.risk = Coalescer(self._infer_risk, settings.max_batch_rows, settings.upstream_max_inflight)
        self.intent = Coalescer(self._infer_intent, settings.max_batch_rows, settings.upstream_max_inflight)

    async def start(self) -> None:
        options = [
            ("grpc.max_receive_message_length", 64 * 1024 * 1024),
            # Reconnect soon after Triton comes back instead of gRPC's default backoff of up to 2 minutes.
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", 2000),
        ]
        self._channel = grpc.aio.insecure_channel(self.settings.triton_grpc_url, options=options)
        self._stub = service_pb2_grpc.GRPCInferenceServiceStub(self._channel)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()

    @property
    def stub(self) -> service_pb2_grpc.GRPCInferenceServiceStub:
        if self._stub is None:
            raise Unavailable("the front has not connected to Triton yet")
        return self._stub

    async def ready(self, models: tuple[str, ...] = (RISK_MODEL,)) -> bool:
        """Triton and the front's pipelines ready; answered from a short-lived memo so probes stay cheap."""
        now = time.monotonic()
        if now - self._ready_at < self.settings.readiness_cache_s:
            return self._ready
        try:
            server = await self.stub.ServerReady(service_pb2.ServerReadyRequest(), timeout=2)
            ready = server.ready
            for name in models:
                model = await self.stub.ModelReady(service_pb2.ModelReadyRequest(name=name), timeout=2)
                ready = ready and model.ready
            self._ready = ready
        except grpc.aio.AioRpcError:
            self._ready = False
        self._ready_at = now
        metrics.UPSTREAM_READY.set(1 if self._ready else 0)
        return self._ready

    async def score(self, rows: list[ApplicantRow]) -> list[RiskResult]:
        return await self.risk.submit(rows)

    async def fraud(self, row: FraudRow, max_links: int) -> FraudResult:
        """One application through `fraud_score`; Triton's dynamic batcher merges concurrent ones."""
        response = await self._infer(FRAUD_MODEL, fraud_request(row, max_links), 1)
        return decode_fraud(response, row)

    async def document(self, image: bytes) -> DocumentResult:
        """One document through `document_ocr` (a request per document: each has its own line count)."""
        response = await self._infer(DOCUMENT_MODEL, image_request(DOCUMENT_MODEL, [image], batched=False), 1)
        return decode_document(response)

    async def damage(self, image: bytes) -> DamageResult:
        """One photo through `vehicle_damage`. Not coalesced: in a merged request one corrupt photo
        would fail every photo with it; Triton's dynamic batcher merges them and isolates failures."""
        response = await self._infer(DAMAGE_MODEL, image_request(DAMAGE_MODEL, [image], batched=True), 1)
        return decode_damage(response, 1)[0]

    async def _infer_intent(self, texts: list[str]) -> list[IntentResult]:
        response = await self._infer(INTENT_MODEL, intent_request(texts), len(texts))
        return decode_intent(response, len(texts))

    async def _infer(
        self, model: str, request: service_pb2.ModelInferRequest, rows: int
    ) -> service_pb2.ModelInferResponse:
        metrics.UPSTREAM_ROWS.labels(model).observe(rows)
        started = time.perf_counter()
        try:
            return await self.stub.ModelInfer(request, timeout=self.settings.upstream_timeout_s)
        except grpc.aio.AioRpcError as exc:
            metrics.UPSTREAM_ERRORS.labels(model, exc.code().name).inc()
            raise upstream_error(exc) from None
        finally:
            metrics.UPSTREAM_LATENCY.labels(model).observe(time.perf_counter() - started)

    async def _infer_risk(self, rows: list[ApplicantRow]) -> list[RiskResult]:
        n = len(rows)
        n_cat = len(rows[0].categorical)
        n_num = len(rows[0].numeric)
        request = service_pb2.ModelInferRequest(model_name=RISK_MODEL)
        request.inputs.add(name="categorical_features", datatype="BYTES", shape=[n, n_cat])
        request.inputs.add(name="numeric_features", datatype="FP32", shape=[n, n_num])
        request.raw_input_contents.append(pack_strings([v for r in rows for v in r.categorical]))
        request.raw_input_contents.append(pack_floats([r.numeric for r in rows]))
        response = await self._infer(RISK_MODEL, request, n)
        return decode_risk(response, n)


def upstream_error(exc: grpc.aio.AioRpcError) -> Exception:
    if exc.code() in _TRANSIENT:
        return Unavailable(f"the model server is unavailable ({exc.code().name.lower()}); retry later")
    if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
        # Triton prefixes a composing model's refusal with "in ensemble '<name>', "; the client wants the reason.
        details = re.sub(r"^in ensemble '[^']*', ", "", exc.details() or "")
        return InvalidArgument(details or "the model rejected the input")
    return UpstreamError(f"the model server failed: {exc.code().name}: {exc.details()}")


def fraud_request(row: FraudRow, max_links: int) -> service_pb2.ModelInferRequest:
    request = service_pb2.ModelInferRequest(model_name=FRAUD_MODEL)
    request.inputs.add(name="application_id", datatype="BYTES", shape=[1, 1])
    request.inputs.add(name="features", datatype="FP32", shape=[1, len(row.features)])
    request.inputs.add(name="link_ids", datatype="BYTES", shape=[1, len(row.links), max_links])
    request.inputs.add(name="persist", datatype="BOOL", shape=[1, 1])
    padded = [v for ids in row.links.values() for v in (*ids, *[""] * (max_links - len(ids)))]
    request.raw_input_contents.append(pack_strings([row.application_id]))
    request.raw_input_contents.append(pack_floats([row.features]))
    request.raw_input_contents.append(pack_strings(padded))
    request.raw_input_contents.append(bytes([row.persist]))
    return request


def intent_request(texts: list[str]) -> service_pb2.ModelInferRequest:
    request = service_pb2.ModelInferRequest(model_name=INTENT_MODEL)
    request.inputs.add(name="text", datatype="BYTES", shape=[len(texts), 1])
    request.raw_input_contents.append(pack_strings(texts))
    return request


def image_request(model: str, images: list[bytes], batched: bool) -> service_pb2.ModelInferRequest:
    request = service_pb2.ModelInferRequest(model_name=model)
    shape = [len(images), 1] if batched else [1]
    request.inputs.add(name="image", datatype="BYTES", shape=shape)
    request.raw_input_contents.append(pack_strings(images))
    return request


def decode_document(response: service_pb2.ModelInferResponse) -> DocumentResult:
    tensors = _tensors(response)
    boxes = tensors["box"]
    lines = [
        (text, confidence, [boxes[8 * i + 2 * k : 8 * i + 2 * k + 2] for k in range(4)])
        for i, (text, confidence) in enumerate(zip(tensors["text"], tensors["confidence"], strict=True))
    ]
    return DocumentResult(lines, json.loads(tensors["fields"][0]))


def decode_damage(response: service_pb2.ModelInferResponse, n: int) -> list[DamageResult]:
    tensors = _tensors(response)
    types, severities = tensors["type_probabilities"], tensors["severity_probabilities"]
    k, s = len(types) // n, len(severities) // n
    return [
        DamageResult(
            tensors["damage_type"][i],
            tensors["severity"][i],
            types[i * k : (i + 1) * k],
            severities[i * s : (i + 1) * s],
        )
        for i in range(n)
    ]


def decode_intent(response: service_pb2.ModelInferResponse, n: int) -> list[IntentResult]:
    tensors = _tensors(response)

    def slot(value: int) -> int | None:
        return None if value < 0 else int(value)

    return [
        IntentResult(
            intent=tensors["intent"][i],
            confidence=tensors["confidence"][i],
            amount=slot(tensors["amount"][i]),
            term_months=slot(tensors["term_months"][i]),
            needs_human=bool(tensors["needs_human"][i]),
        )
        for i in range(n)
    ]


def _tensors(response: service_pb2.ModelInferResponse) -> dict[str, list]:
    """Every output as a flat list (row-major)."""
    tensors: dict[str, list] = {}
    for output, raw in zip(response.outputs, response.raw_output_contents, strict=True):
        if output.datatype == "BYTES":
            tensors[output.name] = unpack_strings(raw, math.prod(output.shape))
        else:
            tensors[output.name] = unpack_numbers(raw, output.datatype, output.shape).ravel().tolist()
    return tensors


def decode_fraud(response: service_pb2.ModelInferResponse, row: FraudRow) -> FraudResult:
    tensors = _tensors(response)
    width = len(tensors["shared_counts"]) // len(row.links)
    counts = tensors["shared_counts"]
    shared = {kind: counts[k * width : k * width + len(ids)] for k, (kind, ids) in enumerate(row.links.items())}
    return FraudResult(
        fraud_probability=tensors["fraud_probability"][0],
        shared=shared,
        neighbours=tensors["neighbours"][0],
        known_fraud_neighbours=tensors["known_fraud_neighbours"][0],
        suspicious_neighbours=[s for s in tensors["suspicious_neighbours"] if s],
    )


def decode_risk(response: service_pb2.ModelInferResponse, n: int) -> list[RiskResult]:
    tensors = _tensors(response)
    k = len(tensors["reason_feature"]) // n
    results = []
    for i in range(n):
        span = range(i * k, (i + 1) * k)
        reasons = tuple(
            (
                tensors["reason_feature"][j],
                tensors["reason_value"][j],
                tensors["reason_contribution"][j],
                tensors["reason_text"][j],
            )
            for j in span
            if tensors["reason_feature"][j]
        )
        results.append(RiskResult(tensors["probability_of_default"][i], tensors["grade"][i], reasons))
    return results

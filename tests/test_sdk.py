"""The SDK covers every pipeline: typed answers over HTTP and gRPC, sync and asyncio, with the SDK's own errors."""

from __future__ import annotations

import asyncio
import base64

import pytest

from finfer.clients import (
    AsyncGrpcClient,
    AsyncHttpClient,
    Damage,
    Document,
    FraudScore,
    GrpcClient,
    HttpClient,
    Intent,
    InvalidRequest,
    RiskScore,
)
from finfer.pipelines import damage, documents, fraud, intent
from tests.helpers import fresh_applicant


@pytest.fixture(scope="module")
def clients(front):
    with HttpClient(front.http_url, timeout_s=60) as http, GrpcClient(front.grpc_target, timeout_s=60) as grpc:
        yield http, grpc


def _image(pipeline) -> bytes:
    (body,) = pipeline.examples(1, 7)
    return base64.b64decode(body["image_base64"])


def test_risk_over_both_protocols(clients):
    http, grpc = clients
    applicant = fresh_applicant()
    over_grpc, over_http = grpc.score(applicant), http.score(applicant)
    assert isinstance(over_grpc, RiskScore) and isinstance(over_http, RiskScore)
    assert over_grpc.cached is False and over_http.cached is True  # one cache behind both protocols
    assert over_http.probability_of_default == pytest.approx(over_grpc.probability_of_default, abs=1e-7)
    assert over_http.reasons == over_grpc.reasons and over_http.reasons
    assert over_http.model_version.startswith("risk-") and over_http.request_id != over_grpc.request_id
    batch = grpc.score_batch([fresh_applicant(), applicant])
    assert [type(r) for r in batch] == [RiskScore, RiskScore] and batch[1].cached is True


def test_fraud_over_both_protocols(clients):
    http, grpc = clients
    (application,) = fraud.PIPELINE.examples(1, 11)
    over_http, over_grpc = http.score_fraud(application), grpc.score_fraud(application)
    assert isinstance(over_http, FraudScore)
    assert over_grpc.fraud_probability == pytest.approx(over_http.fraud_probability, abs=1e-7)
    assert over_grpc.evidence == over_http.evidence  # int64 counts arrive as ints over gRPC too
    assert over_http.basis == "graph" and over_http.persisted is False


def test_intent_over_both_protocols(clients):
    http, grpc = clients
    texts = [body["text"] for body in intent.PIPELINE.examples(3, 12)]
    over_http = http.classify(texts[0])
    over_grpc = grpc.classify(texts[0])
    assert isinstance(over_http, Intent)
    assert (over_grpc.intent, over_grpc.slots, over_grpc.needs_human) == (
        over_http.intent,
        over_http.slots,
        over_http.needs_human,
    )
    batch = http.classify_batch(texts)
    assert [r.intent for r in batch][0] == over_http.intent and len(batch) == 3


def test_documents_over_both_protocols(clients):
    http, grpc = clients
    image = _image(documents.PIPELINE)
    over_http, over_grpc = http.read_document(image), grpc.read_document(image)
    assert isinstance(over_http, Document) and over_http.lines
    # Boxes arrive as [x, y] pairs from either protocol (gRPC sends Point messages).
    assert [(line.text, line.box) for line in over_grpc.lines] == [(line.text, line.box) for line in over_http.lines]
    assert over_grpc.fields == over_http.fields and over_grpc.kind == over_http.kind
    other = next(k for k in ("pay_slip", "bank_statement") if k != over_http.kind)
    sent_http, sent_grpc = http.read_document(image, kind=other), grpc.read_document(image, kind=other)
    assert sent_http.sent_kind == sent_grpc.sent_kind == other
    assert [f.code for f in sent_http.findings] == [f.code for f in sent_grpc.findings] == ["KIND_MISMATCH"]


def test_damage_over_both_protocols(clients):
    http, grpc = clients
    image = _image(damage.PIPELINE)
    over_http, over_grpc = http.assess_damage(image), grpc.assess_damage(image)
    assert isinstance(over_http, Damage)
    assert (over_grpc.damage_type, over_grpc.severity) == (over_http.damage_type, over_http.severity)
    assert over_grpc.probabilities == pytest.approx(over_http.probabilities, abs=1e-6)


def test_bad_input_is_an_invalid_request_naming_the_field(clients):
    http, grpc = clients
    for client, field in ((http, "image_base64"), (grpc, "image")):
        with pytest.raises(InvalidRequest) as error:
            client.assess_damage(b"not an image")
        assert error.value.field == field
    with pytest.raises(InvalidRequest) as error:
        grpc.classify_batch(["好的", "  "])
    assert error.value.field == "texts[1]"


def test_asyncio_clients(front):
    async def both() -> tuple:
        async with AsyncHttpClient(front.http_url, timeout_s=60) as http, AsyncGrpcClient(front.grpc_target) as grpc:
            text = intent.PIPELINE.examples(1, 13)[0]["text"]
            return await asyncio.gather(http.classify(text), grpc.classify(text), grpc.score(fresh_applicant()))

    over_http, over_grpc, score = asyncio.run(both())
    assert over_http.intent == over_grpc.intent and isinstance(score, RiskScore)

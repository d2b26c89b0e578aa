"""The front over gRPC, and the SDK's four clients."""

import asyncio
import math
import time

import grpc
import pytest
from google.protobuf import struct_pb2

from finfer.clients import (
    AsyncGrpcClient,
    AsyncHttpClient,
    GrpcClient,
    HttpClient,
    InvalidRequest,
    Unavailable,
    finfer_pb2,
    finfer_pb2_grpc,
)
from finfer.clients.grpc_client import to_struct
from finfer.clients.retry import RetryPolicy
from finfer.loadtest.stack import free_ports
from tests.helpers import fresh_applicant, load_applicants, model_prediction

BASE = load_applicants()[1]


@pytest.fixture(scope="module")
def stub(front):
    with grpc.insecure_channel(front.grpc_target) as channel:
        yield finfer_pb2_grpc.RiskScoringStub(channel)


def test_grpc_score_equals_the_models_own_prediction(stub, repository):
    for applicant in load_applicants()[5:10]:
        answer = stub.Score(finfer_pb2.ScoreRequest(applicant=to_struct(applicant)), timeout=30)
        assert answer.probability_of_default == pytest.approx(model_prediction(repository, applicant), abs=1e-5)
        assert answer.model_version.startswith("risk-") and len(answer.request_id) == 32


def test_grpc_and_http_agree(front, stub):
    applicant = fresh_applicant()
    grpc_answer = stub.Score(finfer_pb2.ScoreRequest(applicant=to_struct(applicant)), timeout=30)
    with HttpClient(front.http_url) as client:
        http_answer = client.score(applicant)
    assert http_answer.cached  # the gRPC call filled the shared cache
    assert http_answer.probability_of_default == pytest.approx(grpc_answer.probability_of_default, abs=1e-7)
    assert [r.feature for r in http_answer.reasons] == [r.feature for r in grpc_answer.reasons]


def test_grpc_batch(stub):
    applicants = [fresh_applicant() for _ in range(5)]
    answer = stub.ScoreBatch(finfer_pb2.ScoreBatchRequest(applicants=[to_struct(a) for a in applicants]), timeout=30)
    assert len(answer.results) == 5 and answer.request_id


def _struct(**changes):
    message = to_struct({k: v for k, v in BASE.items() if k not in changes})
    for key, value in changes.items():
        if value is not None:
            message.update({key: value})
    return message


BAD = [
    (
        "missing",
        finfer_pb2.ScoreRequest(applicant=to_struct({k: v for k, v in BASE.items() if k != "job"})),
        "job",
    ),
    ("unknown field", finfer_pb2.ScoreRequest(applicant=to_struct({**BASE, "shoe_size": 44})), "shoe_size"),
    (
        "string for number",
        finfer_pb2.ScoreRequest(applicant=to_struct({**BASE, "age_in_years": "old"})),
        "age_in_years",
    ),
    (
        "negative amount",
        finfer_pb2.ScoreRequest(applicant=to_struct({**BASE, "credit_amount": -10})),
        "credit_amount",
    ),
    (
        "NaN",
        finfer_pb2.ScoreRequest(applicant=to_struct({**BASE, "credit_amount": math.nan})),
        "credit_amount",
    ),
    (
        "unknown category",
        finfer_pb2.ScoreRequest(applicant=to_struct({**BASE, "housing": "igloo"})),
        "housing",
    ),
    ("nested", finfer_pb2.ScoreRequest(applicant=to_struct({**BASE, "housing": {"a": 1}})), "housing"),
    ("no applicant", finfer_pb2.ScoreRequest(), "applicant"),
]


@pytest.mark.parametrize(("case", "request_message", "field"), BAD, ids=[b[0] for b in BAD])
def test_grpc_bad_input_is_invalid_argument_naming_the_field(stub, case, request_message, field):
    with pytest.raises(grpc.RpcError) as info:
        stub.Score(request_message, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith(f"{field}:")
    assert dict(info.value.trailing_metadata())["finfer-error-field"] == field


@pytest.mark.parametrize("size", [0, 65])
def test_grpc_empty_or_oversized_batch(stub, size):
    request = finfer_pb2.ScoreBatchRequest(applicants=[to_struct(BASE)] * size)
    with pytest.raises(grpc.RpcError) as info:
        stub.ScoreBatch(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "applicants" in info.value.details()


def test_sync_clients_raise_invalid_request_with_the_field(front):
    for client in (HttpClient(front.http_url), GrpcClient(front.grpc_target)):
        with client:
            assert client.score(fresh_applicant()).grade
            assert len(client.score_batch([fresh_applicant(), fresh_applicant()])) == 2
            with pytest.raises(InvalidRequest) as info:
                client.score({**BASE, "purpose": "spaceship"})
            assert info.value.field == "purpose"


def test_async_clients(front):
    async def main():
        async with AsyncHttpClient(front.http_url) as http, AsyncGrpcClient(front.grpc_target) as grpc_client:
            answers = await asyncio.gather(*(c.score(fresh_applicant()) for c in (http, grpc_client) for _ in range(8)))
            with pytest.raises(InvalidRequest):
                await grpc_client.score({**BASE, "credit_amount": -1})
            return answers

    answers = asyncio.run(main())
    assert len(answers) == 16 and all(0 <= a.probability_of_default <= 1 for a in answers)


def test_clients_retry_unavailable_then_give_up():
    (port,) = free_ports(1)
    retry = RetryPolicy(attempts=2, backoff_s=0.01)
    with GrpcClient(f"127.0.0.1:{port}", timeout_s=2, retry=retry) as client, pytest.raises(Unavailable):
        client.score(BASE)
    with (
        HttpClient(f"http://127.0.0.1:{port}", timeout_s=2, retry=retry) as client,
        pytest.raises(Unavailable),
    ):
        client.score(BASE)


def test_struct_helper_keeps_types():
    message = to_struct({"a": 1, "b": "x"})
    assert message.fields["a"].number_value == 1 and message.fields["b"].string_value == "x"
    assert isinstance(message, struct_pb2.Struct)


def test_the_standard_health_service_answers_overall_and_per_pipeline_service(front):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from finfer.pipelines.registry import REGISTRY

    with grpc.insecure_channel(front.grpc_target) as channel:
        check = health_pb2_grpc.HealthStub(channel).Check
        serving = health_pb2.HealthCheckResponse.SERVING
        deadline = time.monotonic() + 10  # the front reports health on its readiness interval
        while check(health_pb2.HealthCheckRequest(service=""), timeout=5).status != serving:
            assert time.monotonic() < deadline, "the front never reported SERVING"
            time.sleep(0.1)
        for pipeline in REGISTRY:
            answer = check(health_pb2.HealthCheckRequest(service=f"finfer.v1.{pipeline.grpc_service}"), timeout=5)
            assert answer.status == serving, pipeline.name
        with pytest.raises(grpc.RpcError) as caught:
            check(health_pb2.HealthCheckRequest(service="finfer.v1.NoSuchService"), timeout=5)
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_server_reflection_lists_every_service_and_describes_its_methods(front):
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    from finfer.pipelines.registry import REGISTRY

    with grpc.insecure_channel(front.grpc_target) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = set(database.get_services())
        expected = {f"finfer.v1.{p.grpc_service}" for p in REGISTRY}
        assert expected | {"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= services
        described = database.FindFileContainingSymbol("finfer.v1.LoanApplications")
        assert "LoanApplicationRequest" in {m.name for m in described.message_type}


def test_readyz_says_which_pipelines_are_ready(front):
    import json
    import urllib.request

    from finfer.pipelines.registry import REGISTRY

    with urllib.request.urlopen(f"{front.http_url}/readyz", timeout=5) as response:
        body = json.loads(response.read())
    assert body["status"] == "ready" and body["ready"] == {p.name: True for p in REGISTRY}

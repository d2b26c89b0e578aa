"""Locust users for finfer's risk, fraud-ring and customer-intent endpoints: HTTP (FastHttpUser) and gRPC
(an interceptor firing events.request). The HTTP user mixes single and batch risk scores, fraud scores
and customer messages.

    locust -f loadtest/locustfile.py --host http://127.0.0.1:8080 --grpc-host 127.0.0.1:8081
or `finfer loadtest`, which runs it headless and summarises the CSV.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import time
from typing import Any

import grpc
import grpc.experimental.gevent as grpc_gevent
from locust import FastHttpUser, User, events, task

from finfer.clients import finfer_pb2, finfer_pb2_grpc
from finfer.clients.grpc_client import to_struct
from finfer.loadtest.requests import intent_messages, load_applicants
from finfer.models.fraud_data import scoring_requests

grpc_gevent.init_gevent()

_BASE = load_applicants()
_UNIQUE = itertools.count(1_000_000)
_FRAUD_SEEDS = itertools.count(random.randrange(1 << 20) * 1000)
_MESSAGES = intent_messages(20_000, seed=random.randrange(1 << 20))


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument("--grpc-host", default="127.0.0.1:8081", help="finfer front gRPC address")
    parser.add_argument(
        "--hot-share",
        type=float,
        default=0.2,
        help="share of requests repeating a small hot set (cache hits)",
    )
    parser.add_argument(
        "--persist-share",
        type=float,
        default=0.0,
        help="share of fraud scores that also insert the application into the graph",
    )


def next_fraud_request(persist_share: float) -> dict[str, Any]:
    """A never-seen application, half its links on entities the built graph holds."""
    (request,) = scoring_requests(1, seed=next(_FRAUD_SEEDS))
    request["persist"] = random.random() < persist_share
    return request


def next_applicant(hot_share: float) -> dict[str, Any]:
    """Mostly never-seen applicants (cache misses) with a share of repeats from the data set (hits)."""
    if random.random() < hot_share:
        return _BASE[random.randrange(50)]
    applicant = dict(random.choice(_BASE))
    applicant["credit_amount"] = next(_UNIQUE)
    return applicant


class RiskHttpUser(FastHttpUser):
    @task(10)
    def score(self) -> None:
        self.client.post("/v1/risk/score", json=next_applicant(self.environment.parsed_options.hot_share))

    @task(1)
    def score_batch(self) -> None:
        share = self.environment.parsed_options.hot_share
        self.client.post("/v1/risk/score:batch", json={"applicants": [next_applicant(share) for _ in range(16)]})

    @task(3)
    def fraud_score(self) -> None:
        self.client.post("/v1/fraud/score", json=next_fraud_request(self.environment.parsed_options.persist_share))

    @task(5)
    def intent(self) -> None:
        self.client.post("/v1/intent", json={"text": next_message(self.environment.parsed_options.hot_share)})


def next_message(hot_share: float) -> str:
    """Mostly unique customer messages, with a share of repeats of a few common ones (cache hits)."""
    return random.choice(_MESSAGES[:20] if random.random() < hot_share else _MESSAGES)


class LocustInterceptor(grpc.UnaryUnaryClientInterceptor):
    """Times each unary call and reports it to Locust like an HTTP request."""

    def __init__(self, environment: Any) -> None:
        self.environment = environment

    def intercept_unary_unary(self, continuation, client_call_details, request):  # noqa: ANN001
        started = time.perf_counter()
        exception = None
        response = None
        try:
            response = continuation(client_call_details, request)
            result = response.result()
            length = result.ByteSize()
        except grpc.RpcError as exc:
            exception, length = exc, 0
        self.environment.events.request.fire(
            request_type="grpc",
            name=client_call_details.method,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=length,
            exception=exception,
            context={},
        )
        return response


class GrpcUser(User):
    abstract = True
    stub_class: Any = None

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        channel = grpc.insecure_channel(environment.parsed_options.grpc_host)
        channel = grpc.intercept_channel(channel, LocustInterceptor(environment))
        self.stub = self.stub_class(channel)


class RiskGrpcUser(GrpcUser):
    stub_class = finfer_pb2_grpc.RiskScoringStub

    @task(10)
    def score(self) -> None:
        applicant = next_applicant(self.environment.parsed_options.hot_share)
        # Failures are already reported to Locust by the interceptor.
        with contextlib.suppress(grpc.RpcError):
            self.stub.Score(finfer_pb2.ScoreRequest(applicant=to_struct(applicant)), timeout=10)

    @task(1)
    def score_batch(self) -> None:
        share = self.environment.parsed_options.hot_share
        request = finfer_pb2.ScoreBatchRequest(applicants=[to_struct(next_applicant(share)) for _ in range(16)])
        with contextlib.suppress(grpc.RpcError):
            self.stub.ScoreBatch(request, timeout=10)


class FraudGrpcUser(GrpcUser):
    stub_class = finfer_pb2_grpc.FraudScoringStub

    @task
    def score(self) -> None:
        body = next_fraud_request(self.environment.parsed_options.persist_share)
        request = finfer_pb2.FraudScoreRequest(
            application_id=body["application_id"],
            features=body["features"],
            links=finfer_pb2.FraudLinks(**body["links"]),
            persist=body["persist"],
        )
        with contextlib.suppress(grpc.RpcError):
            self.stub.Score(request, timeout=10)


class IntentGrpcUser(GrpcUser):
    stub_class = finfer_pb2_grpc.CustomerIntentStub

    @task
    def classify(self) -> None:
        request = finfer_pb2.IntentRequest(text=next_message(self.environment.parsed_options.hot_share))
        with contextlib.suppress(grpc.RpcError):
            self.stub.Classify(request, timeout=10)

"""finfer's Python SDK: sync and asyncio clients over HTTP and gRPC.

from finfer.clients import HttpClient, GrpcClient
with HttpClient("http://127.0.0.1:8080", api_key="fk_...") as client:  # api_key: where access control is on
    score = client.score(applicant)          # RiskScore: probability_of_default, grade, reasons, ...
    fraud = client.score_fraud(application)  # also classify, classify_batch, read_document, assess_damage
    decision = client.evaluate_application(application_body("A-1", applicant, message="想贷五万分两年还"))

Names load on first use, so importing the package costs nothing until a client is made. The protobuf
modules are the wire contract's (`finfer.wire`), re-exported here for callers of the raw stubs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "AccessDenied": "errors",
    "RateLimited": "errors",
    "FinferClientError": "errors",
    "InvalidRequest": "errors",
    "ServerError": "errors",
    "Timeout": "errors",
    "Unavailable": "errors",
    "AsyncGrpcClient": "grpc_client",
    "GrpcClient": "grpc_client",
    "AsyncHttpClient": "http_client",
    "HttpClient": "http_client",
    "ApplicationDecision": "types",
    "application_body": "api",
    "Damage": "types",
    "Document": "types",
    "FraudScore": "types",
    "Intent": "types",
    "Reason": "types",
    "RiskScore": "types",
}

__all__ = [
    "AccessDenied",
    "ApplicationDecision",
    "AsyncGrpcClient",
    "AsyncHttpClient",
    "Damage",
    "Document",
    "FinferClientError",
    "FraudScore",
    "GrpcClient",
    "HttpClient",
    "Intent",
    "InvalidRequest",
    "RateLimited",
    "Reason",
    "RiskScore",
    "ServerError",
    "Timeout",
    "Unavailable",
    "application_body",
    "finfer_pb2",
    "finfer_pb2_grpc",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"finfer.clients.{_WHERE[name]}"), name)
    if name in ("finfer_pb2", "finfer_pb2_grpc"):  # the wire contract, for callers of the raw stubs
        return importlib.import_module(f"finfer.wire.{name}")
    raise AttributeError(f"module 'finfer.clients' has no attribute {name!r}")


if TYPE_CHECKING:
    from finfer.clients.api import application_body
    from finfer.clients.errors import (
        AccessDenied,
        FinferClientError,
        InvalidRequest,
        RateLimited,
        ServerError,
        Timeout,
        Unavailable,
    )
    from finfer.clients.grpc_client import AsyncGrpcClient, GrpcClient
    from finfer.clients.http_client import AsyncHttpClient, HttpClient
    from finfer.clients.types import ApplicationDecision, Damage, Document, FraudScore, Intent, Reason, RiskScore
    from finfer.wire import finfer_pb2, finfer_pb2_grpc

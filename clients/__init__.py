"""finfer's Python SDK: sync and asyncio clients over HTTP and gRPC.

from finfer.clients import HttpClient, GrpcClient
with HttpClient("http://127.0.0.1:8080") as client:
    score = client.score(applicant)
"""

from finfer.clients import finfer_pb2, finfer_pb2_grpc
from finfer.clients.errors import FinferClientError, InvalidRequest, ServerError, Timeout, Unavailable
from finfer.clients.grpc_client import AsyncGrpcClient, GrpcClient
from finfer.clients.http_client import AsyncHttpClient, HttpClient
from finfer.clients.types import Reason, RiskScore

__all__ = [
    "AsyncGrpcClient",
    "AsyncHttpClient",
    "FinferClientError",
    "GrpcClient",
    "HttpClient",
    "InvalidRequest",
    "Reason",
    "RiskScore",
    "ServerError",
    "finfer_pb2",
    "finfer_pb2_grpc",
    "Timeout",
    "Unavailable",
]

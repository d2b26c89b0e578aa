"""gRPC clients: sync and asyncio, with timeouts and retries on UNAVAILABLE only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2

from finfer.clients import finfer_pb2, finfer_pb2_grpc
from finfer.clients.errors import FinferClientError, InvalidRequest, ServerError, Timeout, Unavailable
from finfer.clients.retry import RetryPolicy
from finfer.clients.types import RiskScore

ERROR_FIELD_KEY = "finfer-error-field"


def to_struct(applicant: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(dict(applicant))
    return message


def _error(exc: grpc.RpcError) -> FinferClientError:
    code = exc.code()
    trailing = dict(exc.trailing_metadata() or ())
    field = trailing.get(ERROR_FIELD_KEY)
    message = exc.details() or code.name
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidRequest(message, "invalid_argument", field)
    if code == grpc.StatusCode.UNAVAILABLE:
        return Unavailable(message, "unavailable", field)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return Timeout(message, "deadline_exceeded", field)
    return ServerError(message, code.name.lower(), field)


def _score(message: finfer_pb2.ScoreResponse) -> RiskScore:
    return RiskScore.from_dict(
        json_format.MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    )


class GrpcClient:
    def __init__(self, target: str, timeout_s: float = 10.0, retry: RetryPolicy = RetryPolicy()) -> None:
        self._channel = grpc.insecure_channel(target)
        self._stub = finfer_pb2_grpc.RiskScoringStub(self._channel)
        self.timeout_s = timeout_s
        self.retry = retry

    def _call(self, method: Any, request: Any) -> Any:
        return self.retry.run(lambda: self._once(method, request))

    def _once(self, method: Any, request: Any) -> Any:
        try:
            return method(request, timeout=self.timeout_s)
        except grpc.RpcError as exc:
            raise _error(exc) from None

    def score(self, applicant: Mapping[str, Any]) -> RiskScore:
        return _score(self._call(self._stub.Score, finfer_pb2.ScoreRequest(applicant=to_struct(applicant))))

    def score_batch(self, applicants: list[Mapping[str, Any]]) -> list[RiskScore]:
        request = finfer_pb2.ScoreBatchRequest(applicants=[to_struct(a) for a in applicants])
        return [_score(r) for r in self._call(self._stub.ScoreBatch, request).results]

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> GrpcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncGrpcClient:
    def __init__(self, target: str, timeout_s: float = 10.0, retry: RetryPolicy = RetryPolicy()) -> None:
        self._channel = grpc.aio.insecure_channel(target)
        self._stub = finfer_pb2_grpc.RiskScoringStub(self._channel)
        self.timeout_s = timeout_s
        self.retry = retry

    async def _call(self, method: Any, request: Any) -> Any:
        return await self.retry.run_async(lambda: self._once(method, request))

    async def _once(self, method: Any, request: Any) -> Any:
        try:
            return await method(request, timeout=self.timeout_s)
        except grpc.aio.AioRpcError as exc:
            raise _error(exc) from None

    async def score(self, applicant: Mapping[str, Any]) -> RiskScore:
        return _score(await self._call(self._stub.Score, finfer_pb2.ScoreRequest(applicant=to_struct(applicant))))

    async def score_batch(self, applicants: list[Mapping[str, Any]]) -> list[RiskScore]:
        request = finfer_pb2.ScoreBatchRequest(applicants=[to_struct(a) for a in applicants])
        return [_score(r) for r in (await self._call(self._stub.ScoreBatch, request)).results]

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> AsyncGrpcClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

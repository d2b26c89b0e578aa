"""gRPC clients: sync and asyncio, with timeouts and retries on UNAVAILABLE only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import grpc
from google.protobuf import json_format, struct_pb2
from pydantic import BaseModel

from finfer.clients.api import Api, AsyncApi, Body
from finfer.clients.errors import (
    AccessDenied,
    FinferClientError,
    InvalidRequest,
    RateLimited,
    ServerError,
    Timeout,
    Unavailable,
)
from finfer.clients.retry import RetryPolicy
from finfer.pipelines.declaration import Pipeline
from finfer.wire import finfer_pb2

ERROR_FIELD_KEY = "finfer-error-field"
M = TypeVar("M", bound=BaseModel)


def to_struct(applicant: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(dict(applicant))
    return message


def _auth(api_key: str | None) -> tuple[tuple[str, str], ...] | None:
    return (("authorization", f"Bearer {api_key}"),) if api_key else None


def _error(exc: grpc.RpcError) -> FinferClientError:
    code = exc.code()
    trailing = dict(exc.trailing_metadata() or ())
    field = trailing.get(ERROR_FIELD_KEY)
    message = exc.details() or code.name
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidRequest(message, "invalid_argument", field)
    if code == grpc.StatusCode.UNAVAILABLE:
        return Unavailable(message, "unavailable", field)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return RateLimited(message, "rate_limited", field)
    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        return AccessDenied(message, code.name.lower(), field)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return Timeout(message, "deadline_exceeded", field)
    return ServerError(message, code.name.lower(), field)


def _as_dict(message: Any) -> dict[str, Any]:
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


class Calls:
    """The pipeline's gRPC method and its batch twin on one channel, with request building from HTTP bodies."""

    def __init__(self, channel: Any) -> None:
        self._channel = channel
        self._methods: dict[str, tuple[Any, type]] = {}

    def method(self, pipeline: Pipeline, batch: bool) -> tuple[Any, type]:
        if batch and pipeline.batch is None:
            raise ValueError(f"{pipeline.name} has no batch route")
        name = pipeline.batch.grpc_method if batch else pipeline.grpc_method  # type: ignore[union-attr]
        path = f"/finfer.v1.{pipeline.grpc_service}/{name}"
        if path not in self._methods:
            descriptor = finfer_pb2.DESCRIPTOR.services_by_name[pipeline.grpc_service].methods_by_name[name]
            request = getattr(finfer_pb2, descriptor.input_type.name)
            response = getattr(finfer_pb2, descriptor.output_type.name)
            call = self._channel.unary_unary(
                path, request_serializer=request.SerializeToString, response_deserializer=response.FromString
            )
            self._methods[path] = (call, request)
        return self._methods[path]

    def one(self, pipeline: Pipeline, body: Body) -> tuple[Any, Any]:
        call, request = self.method(pipeline, batch=False)
        return call, json_format.ParseDict(pipeline.proto_body(body), request())

    def many(self, pipeline: Pipeline, items: list[Any]) -> tuple[Any, Any]:
        call, request = self.method(pipeline, batch=True)
        return call, json_format.ParseDict({pipeline.batch.field: items}, request())  # type: ignore[union-attr]


class GrpcClient(Api):
    def __init__(
        self, target: str, timeout_s: float = 10.0, retry: RetryPolicy = RetryPolicy(), api_key: str | None = None
    ) -> None:
        self._channel = grpc.insecure_channel(target)
        self._metadata = _auth(api_key)
        self._calls = Calls(self._channel)
        self.timeout_s = timeout_s
        self.retry = retry

    def _invoke(self, call: Any, request: Any) -> Any:
        def once() -> Any:
            try:
                return call(request, timeout=self.timeout_s, metadata=self._metadata)
            except grpc.RpcError as exc:
                raise _error(exc) from None

        return self.retry.run(once)

    def _one(self, pipeline: Pipeline, body: Body, model: type[M]) -> M:
        return model.model_validate(_as_dict(self._invoke(*self._calls.one(pipeline, body))))

    def _many(self, pipeline: Pipeline, items: list[Any], model: type[M]) -> list[M]:
        answer = self._invoke(*self._calls.many(pipeline, items))
        return [model.model_validate(_as_dict(r)) for r in answer.results]

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> GrpcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncGrpcClient(AsyncApi):
    def __init__(
        self, target: str, timeout_s: float = 10.0, retry: RetryPolicy = RetryPolicy(), api_key: str | None = None
    ) -> None:
        self._channel = grpc.aio.insecure_channel(target)
        self._metadata = _auth(api_key)
        self._calls = Calls(self._channel)
        self.timeout_s = timeout_s
        self.retry = retry

    async def _invoke(self, call: Any, request: Any) -> Any:
        async def once() -> Any:
            try:
                return await call(request, timeout=self.timeout_s, metadata=self._metadata)
            except grpc.aio.AioRpcError as exc:
                raise _error(exc) from None

        return await self.retry.run_async(once)

    async def _one(self, pipeline: Pipeline, body: Body, model: type[M]) -> M:
        return model.model_validate(_as_dict(await self._invoke(*self._calls.one(pipeline, body))))

    async def _many(self, pipeline: Pipeline, items: list[Any], model: type[M]) -> list[M]:
        answer = await self._invoke(*self._calls.many(pipeline, items))
        return [model.model_validate(_as_dict(r)) for r in answer.results]

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> AsyncGrpcClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

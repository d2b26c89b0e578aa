"""gRPC adapter: one generic handler per declared pipeline; protobuf in, the data plane, protobuf out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from finfer.access.guard import Guard
from finfer.errors import FrontError
from finfer.front import metrics
from finfer.front.dataplane import DataPlane
from finfer.pipelines.declaration import Pipeline
from finfer.wire import finfer_pb2

ERROR_FIELD_KEY = "finfer-error-field"


def _metadata(context: grpc.aio.ServicerContext, name: str) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == name:
            return value
    return None


def _request_id(context: grpc.aio.ServicerContext) -> str | None:
    return _metadata(context, "x-request-id")


def _message(name: str) -> type:
    return getattr(finfer_pb2, name)


def unary(
    label: str,
    method: Any,
    call: Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]],
    guard: Guard,
    scopes: tuple[str, ...],
):
    async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def checked() -> Any:
            guard.check(_metadata(context, "authorization"), scopes)
            return await call(request, context)

        return await timed(label, context, checked())

    return grpc.unary_unary_rpc_method_handler(
        handle,
        request_deserializer=_message(method.input_type.name).FromString,
        response_serializer=_message(method.output_type.name).SerializeToString,
    )


def pipeline_handler(pipeline: Pipeline, plane: DataPlane, guard: Guard) -> grpc.GenericRpcHandler:
    """The gRPC service of one declared pipeline (wire/finfer.proto), with its batch method where it has one
    (UNAVAILABLE while `finfer serve` is still building it: the data plane says so)."""
    scopes = (pipeline.access_scope,)
    service = finfer_pb2.DESCRIPTOR.services_by_name[pipeline.grpc_service]

    async def single(request: Any, context: grpc.aio.ServicerContext) -> Any:
        raw = request.SerializeToString(deterministic=True) if pipeline.cached else None
        answer = await plane.answer(
            pipeline.name, lambda: pipeline.from_proto(request), _request_id(context), raw, protocol="grpc"
        )
        return pipeline.to_proto(answer)

    method = service.methods_by_name[pipeline.grpc_method]
    handlers = {method.name: unary(f"{service.name}/{method.name}", method, single, guard, scopes)}
    batch = pipeline.batch
    if batch is not None:
        batch_method = service.methods_by_name[batch.grpc_method]
        response = _message(batch_method.output_type.name)

        async def many(request: Any, context: grpc.aio.ServicerContext) -> Any:
            answer = await plane.answer_batch(pipeline.name, batch.from_proto(request), _request_id(context))
            return response(
                results=[pipeline.to_proto(a) for a in answer.answers],
                model_version=answer.model_version,
                request_id=answer.request_id,
            )

        handlers[batch_method.name] = unary(f"{service.name}/{batch_method.name}", batch_method, many, guard, scopes)
    return grpc.method_handlers_generic_handler(service.full_name, handlers)


async def timed(method: str, context: grpc.aio.ServicerContext, call: Awaitable[Any]) -> Any:
    """Await one call and count it; a FrontError becomes its gRPC status, the field in trailing metadata."""
    started = time.perf_counter()

    def count(status: str) -> None:
        metrics.REQUESTS.labels(method, "grpc", status).inc()
        metrics.REQUEST_LATENCY.labels(method, "grpc").observe(time.perf_counter() - started)

    try:
        answer = await call
    except FrontError as error:
        trailing = [(ERROR_FIELD_KEY, error.field)] if error.field else []
        if error.retry_after_s:
            trailing.append(("retry-after", str(error.retry_after_s)))
        if trailing:
            context.set_trailing_metadata(tuple(trailing))
        # Counted before `abort` sends the status: a client that reads /metrics once answered finds it there.
        count(error.grpc_code.name)
        await context.abort(error.grpc_code, error.message)
    except asyncio.CancelledError:
        count("CANCELLED")
        raise
    except Exception:
        count("UNKNOWN")
        raise
    count("OK")
    return answer


def service_name(pipeline: Pipeline) -> str:
    return finfer_pb2.DESCRIPTOR.services_by_name[pipeline.grpc_service].full_name


def create_server(
    plane: DataPlane,
    address: str,
    max_message_bytes: int,
    guard: Guard,
    services: Sequence[tuple[str, grpc.GenericRpcHandler]] = (),
) -> tuple[grpc.aio.Server, health.aio.HealthServicer]:
    """The front's gRPC server: every pipeline's service, the standard health service (overall and per
    service name, which Kubernetes' gRPC probes and grpc_health_probe ask) and server reflection (grpcurl).
    `services` are other services by full name (the back office's), served beside the pipelines'."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),
        ]
    )
    handlers = [pipeline_handler(pipeline, plane, guard) for pipeline in plane.pipelines()]
    server.add_generic_rpc_handlers([*handlers, *(handler for _, handler in services)])
    checks = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checks, server)
    names = [service_name(pipeline) for pipeline in plane.pipelines()]
    names += [name for name, _ in services]
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    if server.add_insecure_port(address) == 0:
        raise OSError(f"cannot bind the gRPC front to {address}")
    return server, checks


async def report_health(plane: DataPlane, checks: health.aio.HealthServicer) -> None:
    """Each service SERVING while its pipeline is ready; the server as a whole ("") while all are."""
    ready = await plane.pipelines_ready()
    status = health_pb2.HealthCheckResponse
    for pipeline in plane.pipelines():
        await checks.set(service_name(pipeline), status.SERVING if ready[pipeline.name] else status.NOT_SERVING)
    await checks.set("", status.SERVING if all(ready.values()) else status.NOT_SERVING)

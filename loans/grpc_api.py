"""gRPC adapter of the loans service: LoanMonitoring's Open, Submit and the bidirectional Stream a servicing
platform pushes its statements through."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc

from finfer.access.guard import Guard
from finfer.errors import FrontError
from finfer.front import metrics
from finfer.front.dataplane import new_request_id
from finfer.front.grpc_server import unary
from finfer.loans.http_api import SCOPE
from finfer.loans.service import LoanService
from finfer.pipelines.behaviour import origination_from_proto, statement_from_proto
from finfer.pipelines.risk import Reason, reasons_to_proto
from finfer.wire import finfer_pb2

LOANS_SERVICE = finfer_pb2.DESCRIPTOR.services_by_name["LoanMonitoring"]
# Statements of one stream taken and scored together, at most: the stream's answers come back in the order sent.
STREAM_BATCH = 64


def statement_body(request: finfer_pb2.StatementRequest) -> dict[str, Any]:
    body = statement_from_proto(request.statement) | {"statement_id": request.statement_id}
    if request.message_intent:
        body["message_intent"] = request.message_intent
    return body


def update_to_proto(update: dict[str, Any]) -> finfer_pb2.LoanUpdate:
    return finfer_pb2.LoanUpdate(
        loan_id=update["loan_id"],
        statement_id=update["statement_id"],
        period=update["period"],
        probability_of_default=update["probability_of_default"],
        change=update["change"],
        reasons=reasons_to_proto([Reason(**r) for r in update["reasons"]]),
        treatment=finfer_pb2.Treatment(**update["treatment"]),
        model_version=update["model_version"],
        request_id=update["request_id"],
        repeated=update["repeated"],
        out_of_order=update["out_of_order"],
    )


def loans_handler(service: LoanService, guard: Guard) -> grpc.GenericRpcHandler:
    methods = LOANS_SERVICE.methods_by_name
    scopes = (SCOPE,)

    async def open_loan(request: Any, context: grpc.aio.ServicerContext) -> Any:
        body: dict[str, Any] = {"loan_id": request.loan_id}
        if request.HasField("origination"):
            body["origination"] = origination_from_proto(request.origination)
        if request.application_id:
            body["application_id"] = request.application_id
        return finfer_pb2.OpenLoanResponse(**await service.open(body))

    async def submit(request: Any, context: grpc.aio.ServicerContext) -> Any:
        update = await service.submit(request.loan_id, statement_body(request), new_request_id())
        return update_to_proto(update)

    def answered(request: finfer_pb2.StatementRequest, update: dict[str, Any] | FrontError) -> Any:
        """One statement of a stream: a refusal is this answer's `error`, and the stream goes on."""
        if isinstance(update, FrontError):
            metrics.REQUESTS.labels("LoanMonitoring/Stream", "grpc", update.grpc_code.name).inc()
            return finfer_pb2.LoanUpdate(
                loan_id=request.loan_id,
                statement_id=request.statement_id,
                error=finfer_pb2.StreamError(code=update.code, message=update.message, field=update.field or ""),
            )
        metrics.REQUESTS.labels("LoanMonitoring/Stream", "grpc", "OK").inc()
        return update_to_proto(update)

    async def stream(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        """Statements as they come, answered in order. Whatever arrived while a batch was scored is the next batch
        (at most STREAM_BATCH): one transaction and one Triton call for all of them."""
        guard.check(dict(context.invocation_metadata() or ()).get("authorization"), scopes)
        arrived: asyncio.Queue[Any] = asyncio.Queue()

        async def read() -> None:
            try:
                async for request in requests:
                    await arrived.put(request)
            finally:
                await arrived.put(None)

        reader = asyncio.create_task(read())
        try:
            ended = False
            while not ended:
                batch = [await arrived.get()]
                while len(batch) < STREAM_BATCH and not arrived.empty():
                    batch.append(arrived.get_nowait())
                if batch[-1] is None:
                    ended = True
                    batch.pop()
                if batch:
                    items = [(r.loan_id, statement_body(r)) for r in batch]
                    try:
                        updates = await service.submit_many(items, new_request_id())
                    except FrontError as error:  # the store or Triton away: each statement says so, the stream goes on
                        updates = [error] * len(batch)
                    for request, update in zip(batch, updates, strict=True):
                        yield answered(request, update)
            await reader  # a broken request stream ends this one with its error
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    def streaming() -> grpc.RpcMethodHandler:
        async def handle(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            try:
                async for update in stream(requests, context):
                    yield update
            except FrontError as error:
                await context.abort(error.grpc_code, error.message)

        return grpc.stream_stream_rpc_method_handler(
            handle,
            request_deserializer=finfer_pb2.StatementRequest.FromString,
            response_serializer=finfer_pb2.LoanUpdate.SerializeToString,
        )

    handlers = {
        "Open": unary("LoanMonitoring/Open", methods["Open"], open_loan, guard, scopes),
        "Submit": unary("LoanMonitoring/Submit", methods["Submit"], submit, guard, scopes),
        "Stream": streaming(),
    }
    return grpc.method_handlers_generic_handler(LOANS_SERVICE.full_name, handlers)

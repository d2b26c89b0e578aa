"""The front's connection to Triton: readiness, inference and error mapping over Triton's gRPC API.

It knows KServe v2 tensors, not pipelines: the declarations (finfer.pipelines) encode and decode.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence

import grpc
from tritonclient.grpc import service_pb2, service_pb2_grpc

from finfer.errors import InvalidArgument, Unavailable, UpstreamError
from finfer.front import metrics
from finfer.pipelines.declaration import InferInput, Outputs
from finfer.pipelines.tensors import unpack_numbers, unpack_strings
from finfer.settings import Settings

_TRANSIENT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}


class TritonUpstream:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._channel: grpc.aio.Channel | None = None
        self._stub: service_pb2_grpc.GRPCInferenceServiceStub | None = None
        self._ready_at = -math.inf
        self._models: dict[str, bool] = {}

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

    async def models_ready(self, models: Sequence[str]) -> dict[str, bool]:
        """Each model ready on a ready Triton; answered from a short-lived memo so probes stay cheap."""
        now = time.monotonic()
        if now - self._ready_at >= self.settings.readiness_cache_s or set(models) - set(self._models):
            self._models = await self._fetch_ready(models)
            self._ready_at = now
            metrics.UPSTREAM_READY.set(1 if all(self._models.values()) else 0)
        return {name: self._models[name] for name in models}

    async def _fetch_ready(self, models: Sequence[str]) -> dict[str, bool]:
        try:
            server = await self.stub.ServerReady(service_pb2.ServerReadyRequest(), timeout=2)
            states = {}
            for name in models:
                model = await self.stub.ModelReady(service_pb2.ModelReadyRequest(name=name), timeout=2)
                states[name] = server.ready and model.ready
            return states
        except (grpc.aio.AioRpcError, Unavailable):
            return dict.fromkeys(models, False)

    async def reload(self, model: str, timeout_s: float = 60.0) -> None:
        """Unload and load `model` (Triton runs in explicit model-control mode): a fresh Python stub."""
        try:
            await self.stub.RepositoryModelUnload(
                service_pb2.RepositoryModelUnloadRequest(model_name=model), timeout=timeout_s
            )
            await self.stub.RepositoryModelLoad(
                service_pb2.RepositoryModelLoadRequest(model_name=model), timeout=timeout_s
            )
        except grpc.aio.AioRpcError as exc:
            raise upstream_error(exc) from None
        self._ready_at = -math.inf  # what was ready has changed

    async def infer(self, model: str, inputs: Sequence[InferInput], rows: int) -> Outputs:
        """One inference call; every output comes back as a flat, row-major list."""
        request = infer_request(model, inputs)
        metrics.UPSTREAM_ROWS.labels(model).observe(rows)
        started = time.perf_counter()
        try:
            response = await self.stub.ModelInfer(request, timeout=self.settings.upstream_timeout_s)
        except grpc.aio.AioRpcError as exc:
            metrics.UPSTREAM_ERRORS.labels(model, exc.code().name).inc()
            raise upstream_error(exc) from None
        finally:
            metrics.UPSTREAM_LATENCY.labels(model).observe(time.perf_counter() - started)
        return outputs(response)


def infer_request(model: str, inputs: Sequence[InferInput]) -> service_pb2.ModelInferRequest:
    request = service_pb2.ModelInferRequest(model_name=model)
    for tensor in inputs:
        request.inputs.add(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape)
        request.raw_input_contents.append(tensor.raw)
    return request


def outputs(response: service_pb2.ModelInferResponse) -> Outputs:
    tensors: Outputs = {}
    for output, raw in zip(response.outputs, response.raw_output_contents, strict=True):
        if output.datatype == "BYTES":
            tensors[output.name] = unpack_strings(raw, math.prod(output.shape))
        else:
            tensors[output.name] = unpack_numbers(raw, output.datatype, output.shape).ravel().tolist()
    return tensors


def upstream_error(exc: grpc.aio.AioRpcError) -> Exception:
    if exc.code() in _TRANSIENT:
        return Unavailable(f"the model server is unavailable ({exc.code().name.lower()}); retry later")
    if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
        # Triton prefixes a composing model's refusal with "in ensemble '<name>', "; the client wants the reason.
        details = re.sub(r"^in ensemble '[^']*', ", "", exc.details() or "")
        return InvalidArgument(details or "the model rejected the input")
    return UpstreamError(f"the model server failed: {exc.code().name}: {exc.details()}")

"""The front's connection to Triton's replicas: inference with failover, readiness, repair and error mapping
over Triton's gRPC API.

It knows KServe v2 tensors, not pipelines: the declarations (finfer.pipelines) encode and decode.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Callable, Sequence

import grpc
from tritonclient.grpc import service_pb2

from finfer.errors import FrontError, InvalidArgument, Unavailable, UpstreamError
from finfer.front import metrics
from finfer.front.repair import StubRepair
from finfer.front.replicas import Replica, ReplicaPool
from finfer.pipelines.declaration import InferInput, Outputs
from finfer.pipelines.tensors import unpack_numbers, unpack_strings
from finfer.settings import Settings

_TRANSIENT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
# A server that died or is stopping answers these; the call may be sent again, to another replica.
_SERVER_GONE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}


class TritonUpstream:
    """Every call goes to the least busy replica that can take it; a failed call is sent again to another.

    Every finfer pipeline is idempotent (scores are pure; an application, or a fraud score with persist, is
    keyed by its application id), so a call that failed because its replica died, or because a stub of it
    died, is retried on another replica within the call's deadline.
    """

    def __init__(self, settings: Settings, restart: Callable[[str], None] | None = None) -> None:
        """`restart(address)` restarts a replica whose dead stub would not reload (`finfer serve` passes one)."""
        self.settings = settings
        self.pool = ReplicaPool(settings.triton_targets, settings.replica_check_s)
        self.repair = StubRepair(
            self.reload, self.probe, settings.repair_timeout_s, restart, lambda model: model in self.probes
        )
        self.probes: dict[str, Sequence[InferInput]] = {}  # model → a small known request (set by the data plane)
        self._ready_at = -math.inf
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        await self.pool.start()
        self._tasks.append(asyncio.create_task(self.pool.watch()))
        if self.settings.probe_interval_s > 0:
            self._tasks.append(asyncio.create_task(self.watch()))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.repair.close()
        await self.pool.close()

    @property
    def replica_count(self) -> int:
        return max(1, len(self.pool.replicas))

    async def models_ready(self, models: Sequence[str]) -> dict[str, bool]:
        """Each model ready on at least one replica in rotation that is not reloading it; answered from a
        short-lived memo so that probes stay cheap."""
        now = time.monotonic()
        if now - self._ready_at >= self.settings.readiness_cache_s:
            self._ready_at = now
            for replica in self.pool.replicas.values():
                replica.ready = await _fetch_ready(replica, models) if replica.in_rotation else {}
        ready = {
            model: any(
                r.in_rotation and r.ready.get(model, False) and not self.repair.is_down(r, model)
                for r in self.pool.replicas.values()
            )
            for model in models
        }
        metrics.UPSTREAM_READY.set(1 if all(ready.values()) else 0)
        return ready

    async def reload(self, replica: Replica, model: str, timeout_s: float = 60.0) -> None:
        """Unload and load `model` on one replica (Triton runs in explicit model-control mode): a fresh stub."""
        try:
            await replica.stub.RepositoryModelUnload(
                service_pb2.RepositoryModelUnloadRequest(model_name=model), timeout=timeout_s
            )
            await replica.stub.RepositoryModelLoad(
                service_pb2.RepositoryModelLoadRequest(model_name=model), timeout=timeout_s
            )
        except grpc.aio.AioRpcError as exc:
            raise upstream_error(exc) from None
        self._ready_at = -math.inf  # what was ready has changed

    async def load(self, models: Sequence[str], timeout_s: float = 300.0) -> None:
        """Load `models` on every replica: a family `finfer serve` built while serving. A replica that is down is
        skipped (started again, it loads them: `TritonServer.models`); a model a replica refuses raises."""
        for replica in list(self.pool.replicas.values()):
            for model in models:
                try:
                    await replica.stub.RepositoryModelLoad(
                        service_pb2.RepositoryModelLoadRequest(model_name=model), timeout=timeout_s
                    )
                except grpc.aio.AioRpcError as exc:
                    if exc.code() in _SERVER_GONE:
                        break
                    raise upstream_error(exc) from None
        self._ready_at = -math.inf  # what was ready has changed

    async def probe(self, replica: Replica, model: str) -> None:
        """The model's known small request on one replica; raises what the call raised."""
        await self.infer(model, self.probes[model], 1, replica)

    async def watch(self) -> None:
        """Probe every model on every replica in rotation (not those being reloaded), every `probe_interval_s`:
        a dead stub without traffic is found too."""
        while True:
            await asyncio.sleep(self.settings.probe_interval_s)
            for model in self.probes:
                for replica in list(self.pool.replicas.values()):
                    if not replica.in_rotation or self.repair.is_down(replica, model):
                        continue
                    try:
                        await self.probe(replica, model)
                    except UpstreamError as error:
                        self.repair.saw(replica, model, error)
                    except FrontError:
                        pass  # that replica down or restarting: its rotation and readiness already say so

    async def infer(
        self, model: str, inputs: Sequence[InferInput], rows: int, replica: Replica | None = None
    ) -> Outputs:
        """One inference call (on `replica` if given, else on the best one, then on others); every output comes
        back as a flat, row-major list."""
        request = infer_request(model, inputs)
        metrics.UPSTREAM_ROWS.labels(model).observe(rows)
        deadline = time.monotonic() + self.settings.upstream_timeout_s
        if replica is not None:
            try:
                return outputs(await self._call(replica, model, request, deadline))
            except grpc.aio.AioRpcError as exc:
                raise upstream_error(exc) from None
        tried: list[Replica] = []
        failure: FrontError | None = None
        while time.monotonic() < deadline:
            target = self.pool.pick(tried, lambda r: self.repair.is_down(r, model))
            if target is None:
                break
            if tried:
                metrics.UPSTREAM_RETRIES.labels(model).inc()
            tried.append(target)
            try:
                return outputs(await self._call(target, model, request, deadline))
            except grpc.aio.AioRpcError as exc:
                error = upstream_error(exc)
                if not await self._retryable(target, model, exc, error):
                    raise error from None
                failure = self._nowhere(model) if self.repair.is_down(target, model) else error
        raise failure or self._nowhere(model)

    async def _call(
        self, replica: Replica, model: str, request: service_pb2.ModelInferRequest, deadline: float
    ) -> service_pb2.ModelInferResponse:
        started = time.perf_counter()
        try:
            with replica.busy():
                return await replica.stub.ModelInfer(request, timeout=max(deadline - time.monotonic(), 0.001))
        except grpc.aio.AioRpcError as exc:
            metrics.UPSTREAM_ERRORS.labels(model, exc.code().name).inc()
            raise
        finally:
            metrics.UPSTREAM_LATENCY.labels(model).observe(time.perf_counter() - started)

    async def _retryable(self, replica: Replica, model: str, exc: grpc.aio.AioRpcError, error: Exception) -> bool:
        """Whether another replica may answer: this one's server is gone or stopping, or a stub of it died."""
        if exc.code() in _SERVER_GONE or _loading(exc):
            await self.pool.check(replica)
            return True
        return isinstance(error, UpstreamError) and self.repair.saw(replica, model, error)

    def _nowhere(self, model: str) -> Unavailable:
        steps = self.repair.steps_down(model)
        if steps:
            return Unavailable(f"{model}: its step {steps[0]} died and is being restarted; retry shortly")
        return Unavailable("the model server is unavailable (no Triton replica answers); retry later")


async def _fetch_ready(replica: Replica, models: Sequence[str]) -> dict[str, bool]:
    """Each model's own readiness on a live replica. Not the server's: under strict readiness it is false while
    any model loads, and `finfer serve` loads families while the others serve (seen: risk reported not ready
    for 4 s while the application loaded)."""
    try:
        live = await replica.stub.ServerLive(service_pb2.ServerLiveRequest(), timeout=2)
    except grpc.aio.AioRpcError:
        return dict.fromkeys(models, False)
    if not live.live:
        return dict.fromkeys(models, False)
    try:
        states = {}
        for name in models:
            answer = await replica.stub.ModelReady(service_pb2.ModelReadyRequest(name=name), timeout=2)
            states[name] = answer.ready
        return states
    except grpc.aio.AioRpcError:
        return dict.fromkeys(models, False)


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


def _loading(exc: grpc.aio.AioRpcError) -> bool:
    """A server that is starting or stopping has the model in its repository but no version loaded yet (or
    any more): another replica may answer."""
    return exc.code() == grpc.StatusCode.NOT_FOUND and "has no available versions" in (exc.details() or "")


def _from_model(exc: grpc.aio.AioRpcError) -> bool:
    details = exc.details() or ""
    # gRPC's own transport failures say these (with addresses in them); a model's reason says something else.
    transport = r"failed to connect to all addresses|Socket closed|Connection reset|Broken pipe|GOAWAY|keepalive"
    return bool(details) and not re.search(transport, details, re.IGNORECASE)


def upstream_error(exc: grpc.aio.AioRpcError) -> Exception:
    if exc.code() in _TRANSIENT:
        # A model's own reason (the shared fraud graph is unreachable) helps the caller; gRPC's transport text less.
        reason = exc.details() if exc.code() == grpc.StatusCode.UNAVAILABLE and _from_model(exc) else None
        return Unavailable(f"the model server is unavailable ({reason or exc.code().name.lower()}); retry later")
    if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
        # Triton prefixes a composing model's refusal with "in ensemble '<name>', "; the client wants the reason.
        details = re.sub(r"^in ensemble '[^']*', ", "", exc.details() or "")
        return InvalidArgument(details or "the model rejected the input")
    return UpstreamError(f"the model server failed: {exc.code().name}: {exc.details()}")

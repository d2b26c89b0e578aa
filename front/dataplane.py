"""The data plane: the one flow every request takes, whatever its pipeline or protocol.

raw-bytes hit → parse and validate → keyed cache → coalescer → upstream.infer → decode → envelope.
The HTTP and gRPC adapters only translate bodies and messages; this is the only place that knows
the flow, and the pipeline declarations (finfer.pipelines) are the only place that knows a family.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from finfer.errors import InvalidArgument, NotFound
from finfer.front import metrics
from finfer.front.answer_cache import AnswerCache, shared_cache
from finfer.front.coalescer import Coalescer
from finfer.front.drift import DriftMonitor
from finfer.front.recorder import Recorder
from finfer.front.upstream import TritonUpstream
from finfer.pipelines import REGISTRY
from finfer.pipelines.declaration import Answer, BatchAnswer, Codec, Pipeline, Stored
from finfer.pipelines.validation import batch_items
from finfer.settings import Settings


def new_request_id() -> str:
    return uuid.uuid4().hex


class Served:
    """A declared pipeline bound to the built repository and to this front's cache and coalescer."""

    def __init__(self, pipeline: Pipeline, codec: Codec, settings: Settings, upstream: TritonUpstream) -> None:
        self.pipeline = pipeline
        self.codec = codec
        self.model_version = codec.model_version
        self.upstream = upstream
        self.answers = (
            AnswerCache(pipeline.name, self.model_version, settings, shared_cache(settings), pipeline.result)
            if pipeline.cached
            else None
        )
        self.coalescer = (
            Coalescer(self._infer, settings.max_batch_rows, settings.upstream_max_inflight * upstream.replica_count)
            if pipeline.coalesced
            else None
        )
        meta = settings.model_repository / pipeline.meta
        self.drift = (
            DriftMonitor.load(pipeline.name, meta, settings.drift_window, settings.drift_step)
            if settings.drift_window
            else None
        )

    def observe(self, row: Any, stored: Stored) -> None:
        """Count one request in the drift windows (its output too when the model computed it just now)."""
        inputs = self.codec.drift_inputs(row) if self.drift is not None else None
        if inputs is not None:
            computed = stored.computed
            self.drift.observe(inputs, self.codec.drift_outputs(computed) if computed is not None else None)

    async def _infer(self, rows: Sequence[Any]) -> list[Stored]:
        try:
            inputs = self.pipeline.infer_inputs(self.codec.encode(rows))
            outputs = await self.upstream.infer(self.pipeline.triton_model, inputs, len(rows))
        except InvalidArgument as error:
            raise self.codec.refused(error, rows) from None
        return [Stored.of(result) for result in self.codec.decode(outputs, rows)]

    async def compute(self, rows: Sequence[Any]) -> list[Stored]:
        # Only coalesced pipelines have batch routes: an uncoalesced one sends a request's one row alone.
        if self.coalescer is not None:
            return await self.coalescer.submit(rows)
        return await self._infer(rows)

    async def results(self, rows: Sequence[Any]) -> list[tuple[Stored, bool | None]]:
        """Each row's result and whether a cache answered it (None: the pipeline is never cached)."""
        if self.answers is None:
            return [(stored, None) for stored in await self.compute(rows)]
        keys = [self.answers.key(self.codec.key(row)) for row in rows]
        return await self.answers.answer(keys, lambda missing: self.compute([rows[i] for i in missing]))

    async def close(self) -> None:
        if self.answers is not None:
            await self.answers.close()


class DataPlane:
    def __init__(
        self, settings: Settings, upstream: TritonUpstream, served: dict[str, Served], recorder: Recorder | None = None
    ) -> None:
        self.settings = settings
        self.upstream = upstream
        self.served = served
        self.recorder = recorder  # keeps the answers of pipelines that declare a record
        self.draining = False  # set on SIGTERM: not ready, still answering
        for s in served.values():
            # What the upstream sends each model to find a dead stub and to check a reloaded one.
            probe = s.codec.encode([s.codec.row(s.pipeline.probe_payload())])
            upstream.probes[s.pipeline.triton_model] = s.pipeline.infer_inputs(probe)

    @classmethod
    def from_repository(
        cls, settings: Settings, upstream: TritonUpstream, recorder: Recorder | None = None
    ) -> DataPlane:
        """Every registered pipeline whose models the repository holds."""
        repository = settings.model_repository
        served = {p.name: Served(p, p.load(repository), settings, upstream) for p in REGISTRY if p.is_built(repository)}
        if not served:
            raise FileNotFoundError(f"{repository} holds no built pipeline: run `finfer build` first")
        return cls(settings, upstream, served, recorder)

    async def answer(
        self,
        name: str,
        parse: Callable[[], object],
        request_id: str | None = None,
        raw: bytes | None = None,
        protocol: str = "http",
    ) -> Answer:
        """One request: `parse()` gives its body; `raw` (its bytes as received over `protocol`) lets a
        byte-identical repeat skip parsing and validation."""
        served = self.served[name]
        request_id = request_id or new_request_id()
        if raw is not None and served.answers is not None:
            hit = served.answers.raw_get(protocol, raw)
            if hit is not None:
                return Answer(hit, served.model_version, request_id, True)
        row = served.codec.row(parse())
        ((stored, cached),) = await served.results([row])
        served.observe(row, stored)
        if raw is not None and served.answers is not None:
            served.answers.remember_raw(protocol, raw, stored)
        answer = Answer(stored, served.model_version, request_id, cached)
        record = served.pipeline.record
        if record is not None and self.recorder is not None:
            # Answered only once on record (in the database, or the spool while it is away).
            await self.recorder.record("decision", record(served.codec, row, answer, self.recorder.digest))
        return answer

    async def answer_batch(self, name: str, payload: object, request_id: str | None = None) -> BatchAnswer:
        served = self.served[name]
        batch = served.pipeline.batch
        if batch is None:
            raise NotFound(f"{name} has no batch route")
        items = batch_items(payload, batch.field, batch.items, self.settings.max_batch_rows)
        rows = [served.codec.batch_row(item, f"{batch.field}[{i}]") for i, item in enumerate(items)]
        request_id = request_id or new_request_id()
        results = await served.results(rows)
        for row, (stored, _) in zip(rows, results, strict=True):
            served.observe(row, stored)
        answers = [Answer(stored, served.model_version, request_id, cached) for stored, cached in results]
        return BatchAnswer(answers, served.model_version, request_id)

    async def pipelines_ready(self) -> dict[str, bool]:
        """Each served pipeline: its Triton model ready on some replica that can take it."""
        models = await self.upstream.models_ready(tuple(s.pipeline.triton_model for s in self.served.values()))
        ready = {name: models[s.pipeline.triton_model] and not self.draining for name, s in self.served.items()}
        for name, state in ready.items():
            metrics.PIPELINE_READY.labels(name).set(1 if state else 0)
        return ready

    async def close(self) -> None:
        for served in self.served.values():
            await served.close()

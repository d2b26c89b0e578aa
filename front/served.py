"""One version of a declared pipeline as this front serves it: its codec, cache, coalescer and drift window."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from finfer.errors import InvalidArgument
from finfer.front.answer_cache import AnswerCache, shared_cache
from finfer.front.coalescer import Coalescer
from finfer.front.drift import DriftMonitor
from finfer.front.upstream import TritonUpstream
from finfer.pipelines.declaration import Codec, Pipeline, Stored
from finfer.settings import Settings


class Served:
    """One version of a declared pipeline bound to the built repository and to this front's cache and coalescer."""

    def __init__(
        self, pipeline: Pipeline, codec: Codec, settings: Settings, upstream: TritonUpstream, version: int = 1
    ) -> None:
        self.pipeline = pipeline
        self.codec = codec
        self.version = version
        self.triton_model = pipeline.model_name(version)
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
        meta = settings.model_repository / pipeline.meta_of(version)
        label = pipeline.name if version == 1 else f"{pipeline.name}@v{version}"
        self.drift = (
            DriftMonitor.load(label, meta, settings.drift_window, settings.drift_step)
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
            outputs = await self.upstream.infer(self.triton_model, inputs, len(rows))
        except InvalidArgument as error:
            raise self.codec.refused(error, rows) from None
        return self.codec.stored(outputs, rows)

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

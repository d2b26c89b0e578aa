"""The data plane: the one flow every request takes, whatever its pipeline or protocol.

raw-bytes hit → parse and validate → version (the split) → keyed cache → coalescer → upstream.infer →
decode → envelope (→ comparisons with other versions, after the answer: front/versions.py).
The HTTP and gRPC adapters only translate bodies and messages; this is the only place that knows
the flow, and the pipeline declarations (finfer.pipelines) are the only place that knows a family.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from finfer.build_progress import clock
from finfer.errors import InvalidArgument, NotBuilt, NotFound
from finfer.front import metrics
from finfer.front.admission import Gate
from finfer.front.recorder import Recorder
from finfer.front.served import Served
from finfer.front.upstream import TritonUpstream
from finfer.front.versions import Routed, Versions
from finfer.pipelines.declaration import Answer, BatchAnswer, Pipeline
from finfer.pipelines.registry import REGISTRY
from finfer.pipelines.validation import batch_items
from finfer.settings import Settings, Split


def new_request_id() -> str:
    return uuid.uuid4().hex


class Builds(Protocol):
    """What `finfer serve` says of the registered pipelines it is still building (finfer/background_build.py)."""

    def failure(self, name: str) -> str | None:
        """Why the pipeline's build failed; None while it is still being built."""

    def eta_s(self, name: str) -> float:
        """Seconds until the pipeline is built, an estimate."""

    def step(self, name: str) -> str:
        """What its build is doing now (`epoch 3/8: loss 0.19`)."""


class DataPlane:
    def __init__(
        self,
        settings: Settings,
        upstream: TritonUpstream,
        served: dict[str, Served],
        recorder: Recorder | None = None,
        versions: dict[str, Versions] | None = None,
        pending: dict[str, Pipeline] | None = None,
        builds: Builds | None = None,
    ) -> None:
        self.settings = settings
        self.upstream = upstream
        self.served: dict[str, Served] = {}  # each pipeline's version 1: its routes, schema and probe
        self.versions = versions or {}  # pipelines with candidates built beside version 1
        self.recorder = recorder  # keeps the answers of pipelines that declare a record
        self.draining = False  # set on SIGTERM: not ready, still answering
        # Registered pipelines not built yet: their routes answer 503 `not_built` until `add` serves them.
        self.pending = pending or {}
        self.builds = builds
        if self.pending and builds is None:
            raise ValueError("pending pipelines need the build that builds them")
        self.gates: dict[str, Gate] = {}
        for s in served.values():
            self._serve(s)

    def _serve(self, s: Served) -> None:
        name = s.pipeline.name
        if s.pipeline.admission is not None:
            bound = self.settings.admission.get(name, s.pipeline.admission)
            self.gates[name] = Gate(name, bound, self.settings.retry_after_s)
        # What the upstream sends each model to find a dead stub and to check a reloaded one. Version 1's
        # models only: a candidate's dead stub is not reloaded (front/repair.py says why).
        probe = s.codec.encode([s.codec.row(s.pipeline.probe_payload())])
        self.upstream.probes[s.pipeline.triton_model] = s.pipeline.infer_inputs(probe)
        self.served[name] = s

    def add(self, pipeline: Pipeline) -> Served:
        """Serve a pending pipeline whose build has finished and whose model Triton has loaded."""
        served = Served(pipeline, pipeline.load(self.settings.model_repository), self.settings, self.upstream)
        self._serve(served)
        del self.pending[pipeline.name]
        # In the registry's order, whatever order builds ended in: /readyz lists them so, the first is its version.
        ordered = {p.name: self.served[p.name] for p in REGISTRY if p.name in self.served}
        self.served.clear()
        self.served.update(ordered)
        return served

    @classmethod
    def from_repository(
        cls,
        settings: Settings,
        upstream: TritonUpstream,
        recorder: Recorder | None = None,
        pending: Sequence[Pipeline] = (),
        builds: Builds | None = None,
    ) -> DataPlane:
        """Every registered pipeline whose models the repository holds, and `pending` ones being built."""
        repository = settings.model_repository
        served: dict[str, Served] = {}
        versions: dict[str, Versions] = {}
        for p in REGISTRY:
            built = [] if p in pending else p.versions(repository)
            if not built:
                continue
            by_version = {v: Served(p, p.load(repository, v), settings, upstream, v) for v in built}
            served[p.name] = by_version[1]
            if len(built) > 1:
                split = settings.splits.get(p.name, Split(weights={"1": 1}))
                try:
                    versions[p.name] = Versions(p, by_version, split, settings)
                except InvalidArgument as error:
                    raise InvalidArgument(f"splits.{p.name}.{error.message}", error.field) from None
        if not served and not pending:
            raise FileNotFoundError(f"{repository} holds no built pipeline: run `finfer build` first")
        for name in settings.splits.keys() - versions.keys():
            raise InvalidArgument(f"splits.{name}: no candidate version of {name!r} is built", "splits")
        heavy = {p.name for p in [*pending, *(s.pipeline for s in served.values())] if p.admission}
        for name in settings.admission.keys() - heavy:
            raise InvalidArgument(f"admission.{name}: {name!r} is not a heavy pipeline served here", "admission")
        return cls(settings, upstream, served, recorder, versions, {p.name: p for p in pending}, builds)

    def pipelines(self) -> list[Pipeline]:
        """Every pipeline this front has routes for, served or pending, in the registry's order."""
        names = self.served.keys() | self.pending.keys()
        return [p for p in REGISTRY if p.name in names]

    def serving(self, name: str) -> Served:
        """The pipeline's version 1; NotBuilt (503) while `finfer serve` is still building it."""
        served = self.served.get(name)
        if served is not None:
            return served
        if name not in self.pending:
            raise NotFound(f"pipeline: {name} is not served here", "pipeline")
        state = self.build_state(name)
        if state["state"] == "failed":
            raise NotBuilt(f"{name} is not served: its build failed ({state['error']}); see `finfer serve`'s output")
        eta = int(state["eta_s"])
        raise NotBuilt(
            f"{name} is still being built ({state['step'] or 'queued'}); ready in about {clock(eta)}",
            retry_after_s=max(1, min(eta, 300)),
        )

    def build_state(self, name: str) -> dict[str, object]:
        """A pending pipeline's build as /readyz reports it: building (step, ETA in whole seconds) or failed (why)."""
        assert self.builds is not None  # __init__: no pending pipeline without its build
        failure = self.builds.failure(name)
        if failure is not None:
            return {"state": "failed", "error": failure}
        return {"state": "building", "step": self.builds.step(name), "eta_s": round(self.builds.eta_s(name))}

    def every_version(self) -> list[Served]:
        """Every served version of every pipeline, each once: version 1, then the candidates."""
        candidates = [s for v in self.versions.values() for s in v.served.values() if s.version != 1]
        return [*self.served.values(), *candidates]

    def baseline(self, name: str) -> Served:
        """The version a pipeline's readiness follows: the one with the most weight."""
        versions = self.versions.get(name)
        return versions.served[versions.baseline] if versions is not None else self.served[name]

    def of(self, name: str) -> Versions:
        """A pipeline's versions, for the admin routes; NotFound when it has only version 1."""
        versions = self.versions.get(name)
        if versions is None:
            hint = "build one with `finfer build --version 2` first"
            raise NotFound(f"pipeline: {name} has no candidate version; {hint}", "pipeline")
        return versions

    async def _results(self, name: str, rows: Sequence[Any]) -> list[Routed]:
        gate = self.gates.get(name)
        if gate is not None and any(self.serving(name).codec.heavy(row) for row in rows):
            async with gate.admitted():
                return await self._routed(name, rows)
        return await self._routed(name, rows)

    async def _routed(self, name: str, rows: Sequence[Any]) -> list[Routed]:
        versions = self.versions.get(name)
        if versions is not None:
            return await versions.results(rows)
        served = self.served[name]
        return [(served, stored, cached) for stored, cached in await served.results(rows)]

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
        versions = self.versions.get(name)
        # Byte-identical repeats skip parsing only while one version answers and nothing is compared.
        fast = self.serving(name) if versions is None else versions.sole
        request_id = request_id or new_request_id()
        if raw is not None and fast is not None and fast.answers is not None:
            hit = fast.answers.raw_get(protocol, raw)
            if hit is not None:
                return Answer(hit, fast.model_version, request_id, True)
        row = self.served[name].codec.row(parse())
        ((served, stored, cached),) = await self._results(name, [row])
        served.observe(row, stored)
        if raw is not None and served is fast and served.answers is not None:
            served.answers.remember_raw(protocol, raw, stored)
        answer = Answer(stored, served.model_version, request_id, cached)
        record = served.pipeline.record_builder()
        if record is not None and self.recorder is not None:
            # Answered only once on record (in the database, or the spool while it is away).
            await self.recorder.record("decision", record(served.codec, row, answer, self.recorder.digest))
        return answer

    async def answer_batch(self, name: str, payload: object, request_id: str | None = None) -> BatchAnswer:
        served = self.serving(name)
        batch = served.pipeline.batch
        if batch is None:
            raise NotFound(f"{name} has no batch route")
        items = batch_items(payload, batch.field, batch.items, self.settings.max_batch_rows)
        rows = [served.codec.batch_row(item, f"{batch.field}[{i}]") for i, item in enumerate(items)]
        request_id = request_id or new_request_id()
        answers = await self.answer_rows(name, rows, request_id)
        # Each item names the version that answered it; the batch names them all when the split divided it.
        model_versions = sorted({a.model_version for a in answers}) or [served.model_version]
        return BatchAnswer(answers, ",".join(model_versions), request_id)

    async def answer_rows(self, name: str, rows: Sequence[Any], request_id: str) -> list[Answer]:
        """Rows already validated by the pipeline's codec (the loans service builds them from its store), answered
        as a batch's items are: cache, coalescer, versions and drift alike."""
        self.serving(name)
        results = await self._results(name, rows)
        for row, (by, stored, _) in zip(rows, results, strict=True):
            by.observe(row, stored)
        return [Answer(stored, by.model_version, request_id, cached) for by, stored, cached in results]

    async def pipelines_ready(self) -> dict[str, bool]:
        """Each pipeline: its Triton model ready on some replica that can take it (a pending one is not)."""
        baselines = {name: self.baseline(name).triton_model for name in self.served}
        models = await self.upstream.models_ready(tuple(baselines.values()))
        ready = {name: models[model] and not self.draining for name, model in baselines.items()}
        ready |= dict.fromkeys(self.pending, False)
        for name, state in ready.items():
            metrics.PIPELINE_READY.labels(name).set(1 if state else 0)
        return ready

    async def close(self) -> None:
        for versions in self.versions.values():
            await versions.close()
        for served in self.every_version():
            await served.close()

"""The shape of a served pipeline, stated once: what every layer of finfer reads about it.

A `Pipeline` is static (names, routes, types); a `Codec` is the same pipeline bound to what its build
wrote into the model repository (model version, feature schema, label names), which validation and
the Triton tensors depend on. Results are frozen dataclasses: a 256-row batch builds over a thousand
of them, so they must be cheap to make and to serialise (orjson reads a dataclass's __dict__ natively,
five times faster than with __slots__; pydantic's model_construct cost 6 µs an object), and pydantic
still validates them (SDK, Redis) and documents them (OpenAPI).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, create_model

from finfer.errors import InvalidArgument
from finfer.pipelines.tensors import raw_contents

Row = TypeVar("Row")
Result = TypeVar("Result")  # a frozen dataclass
Message = Any  # a generated protobuf message of wire/finfer.proto


@dataclass(frozen=True)
class Tensor:
    """One tensor of a pipeline's Triton model, as the declaration states it."""

    name: str
    datatype: str  # KServe v2 names: BYTES, FP32, INT64, BOOL


@dataclass(frozen=True)
class InferInput:
    """One input tensor of a Triton request, already in KServe v2's raw layout."""

    name: str
    datatype: str  # KServe v2 names: BYTES, FP32, INT64, BOOL
    shape: tuple[int, ...]
    raw: bytes


# An input's shape and its values by input name: a flat sequence of strings or bytes for BYTES, numbers (a
# sequence or an array) otherwise. The front packs them into KServe v2's raw layout (`infer_inputs`); a BLS
# step hands them to its branches as arrays (`tensors.as_array`), never packed and unpacked in one process.
Encoded = dict[str, tuple[tuple[int, ...], Any]]
# Every output of a Triton answer as a flat, row-major list.
Outputs = dict[str, list]


@functools.cache
def named(path: str) -> Any:
    """What a "module:name" path names, imported on first use."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def versioned_model(model: str, version: int) -> str:
    """The Triton model serving `version` of an ensemble: the ensemble itself for 1, `<model>_vN` for a candidate
    (what `finfer build --version N` writes and the front calls)."""
    return model if version == 1 else f"{model}_v{version}"


@dataclass(frozen=True)
class Comparison:
    """A served answer against another version's answer to the same request (shadow copies, rollback)."""

    agree: bool  # the same decision: what a client acts on (the grade, the intent, the damage)
    difference: float | None = None  # the main score's absolute difference
    overlap: float | None = None  # Jaccard index of the reason codes


class Codec(ABC, Generic[Row, Result]):
    """A pipeline bound to its built model: request → validated rows → Triton tensors → typed results."""

    def __init__(self, meta: dict[str, Any]) -> None:
        self.model_version: str = meta["model_version"]

    @classmethod
    def load(cls, repository: Path, meta: Path) -> Codec:
        """The codec of the pipeline built into `repository`, whose metadata is the file `meta`."""
        return cls(json.loads(meta.read_text(encoding="utf-8")))

    @abstractmethod
    def row(self, payload: object) -> Row:
        """One request body (decoded JSON, or its gRPC twin in the same shape) as a validated row."""

    def batch_row(self, item: object, where: str) -> Row:
        """One item of a batch body; `where` (`applicants[3]`) prefixes the field named in errors."""
        raise NotImplementedError

    def key(self, row: Row) -> tuple:
        """The row's values that determine its answer (hashed with the model version into cache keys)."""
        raise NotImplementedError

    def split_key(self, row: Row) -> bytes:
        """What the sticky traffic split hashes: the row's values, so one applicant meets one version."""
        key = self.key(row)
        return key[0] if len(key) == 1 and isinstance(key[0], bytes) else repr(key).encode()

    def heavy(self, row: Row) -> bool:
        """Whether the row counts against its pipeline's admission bound (default: every row of a heavy pipeline)."""
        return True

    def compare(self, served: Result, other: Result) -> Comparison:
        """`served` against another version's answer to the same row (default: the same answer)."""
        return Comparison(agree=served == other)

    @abstractmethod
    def encode(self, rows: Sequence[Row]) -> Encoded:
        """Every declared input of the model for `rows`, batch dimension first."""

    @abstractmethod
    def decode(self, outputs: Outputs, rows: Sequence[Row]) -> list[Result]: ...

    def stored(self, outputs: Outputs, rows: Sequence[Row]) -> list[Stored[Result]]:
        """Each row's result with its JSON, as the front keeps and sends it (default: decoded, serialised once)."""
        return [Stored.of(result) for result in self.decode(outputs, rows)]

    def refused(self, error: InvalidArgument, rows: Sequence[Row]) -> InvalidArgument:
        """Triton's refusal of `rows` as the client should read it (default: as Triton said it)."""
        return error

    def request_schema(self) -> dict[str, Any] | None:
        """JSON Schema of the request body for OpenAPI (None: the body is an image upload)."""
        return None

    def item_schema(self) -> dict[str, Any]:
        """JSON Schema of one item as `batch_row` takes it (a batch body's items, a part of an application)."""
        raise NotImplementedError

    def fields(self, row: Row) -> dict[str, object]:
        """The row's values by field name, as the client sent them, validated (what a record keeps)."""
        raise NotImplementedError

    def drift_inputs(self, row: Row) -> dict[str, object] | None:
        """The row's fields by the names of the pipeline's drift reference (None: no drift accounting)."""
        return None

    def drift_outputs(self, result: Result) -> dict[str, object]:
        """The answer's values the drift reference names under `outputs`."""
        return {}


@dataclass(frozen=True)
class Batch:
    """The batch twin of a pipeline's route: `{field: [item, ...]}` answered in order."""

    http_path: str
    grpc_method: str
    field: str
    items: str  # what the items are, for errors: "applicant objects"
    item_schema: Callable[[Codec], dict[str, Any]]
    from_proto: Callable[[Message], object]
    summary: str


class AdmissionBound(BaseModel):
    """How many of a heavy pipeline's requests one front lets into Triton at once, how many more wait in
    order behind them, and how long each may wait; past that, 503 with Retry-After (front/admission.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    in_flight: int = Field(ge=1, le=10_000)
    queue: int = Field(0, ge=0, le=100_000)
    # As long as Triton is given a call (upstream_timeout_s' default): while a replica restarts, a queued
    # request waits its turn as it would have waited in Triton; a wait of 5 s refused applications in the
    # chaos drill's replica kill, which a client sees as an outage.
    wait_s: float = Field(10.0, gt=0, le=600)


@dataclass(frozen=True)
class BuildTime:
    """Typical seconds to build a family on 2 cores (training, export, parity), by build profile: what the
    progress display's ETA starts from before this machine has built anything."""

    full: float
    small: float

    def of(self, profile: str) -> float:
        return self.full if profile == "full" else self.small


@dataclass(frozen=True)
class Pipeline:
    """One served pipeline: everything the front, the build, the SDK, the bench and the tests need."""

    name: str  # registry key, metric label, `finfer build --family`
    triton_model: str  # the ensemble or BLS model the front calls
    inputs: tuple[Tensor, ...]  # its tensor contract (checked against the model's config by the tests)
    outputs: tuple[Tensor, ...]
    family: str  # the exporter family that builds its models
    exporter: str  # "module:Class" of that family's exporter (imported only when building)
    meta: str  # repository path of the JSON holding `model_version` and what the codec needs
    codec: type[Codec]
    result: type  # a frozen dataclass: one answer's fields; the response adds the envelope
    http_path: str
    grpc_service: str  # service of wire/finfer.proto
    grpc_method: str
    summary: str  # the route's description in OpenAPI
    from_proto: Callable[[Message], object]  # gRPC request → the HTTP body's shape
    to_proto: Callable[[Any], Message]  # Answer → gRPC response
    examples: Callable[[int, int], list[dict[str, Any]]]  # (n, seed) → distinct HTTP JSON bodies
    # The HTTP body as the JSON form of the gRPC request (the SDK sends one body over either protocol).
    proto_body: Callable[[dict[str, Any]], dict[str, Any]] = lambda body: body
    body: Literal["json", "image"] = "json"
    # An image route's optional text fields beside the image (multipart form fields, JSON keys, the gRPC
    # ImageRequest's), each with its JSON Schema: the codec reads them from Upload.options.
    image_options: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict, hash=False, compare=False)
    # The largest HTTP body the route reads, from the settings (default: max_body_bytes).
    body_limit: Callable[[Any], int] = lambda settings: settings.max_body_bytes
    # The model takes one row a request (no batch dimension): a caller sends several rows as parallel requests.
    one_per_request: bool = False
    batch: Batch | None = None
    # The front's health probe: a small request whose answer proves every step of the pipeline alive
    # (default: the first generated example). Returns the payload `Codec.row` takes.
    probe: Callable[[], object] | None = None
    cached: bool = False
    coalesced: bool = False
    # A heavy pipeline (seconds of CPU a request: pages, photos): how many of its requests one front lets into
    # Triton at once, and the queue behind them (front/admission.py; FINFER_ADMISSION replaces it). Which of its
    # requests are heavy is the codec's `heavy`. None: a light pipeline, never held back.
    admission: AdmissionBound | None = None
    tag: str = ""
    # The API key scope its routes need (default: the pipeline's name).
    scope: str | None = None
    build_time: BuildTime = BuildTime(full=60.0, small=15.0)
    # It calls the other pipelines: `finfer serve` builds and loads it after them.
    composes: bool = False
    # What the decision store keeps of one answer: "module:function" of the store's builder, (codec, row, answer,
    # digest) → a JSON-able record body holding `application_id`, personal identifiers only as `digest(value)`.
    # Named, not imported: only the front records, and Triton's image carries no store. None: not recorded.
    record: str | None = None

    @property
    def access_scope(self) -> str:
        return self.scope or self.name

    def infer_inputs(self, encoded: Encoded) -> list[InferInput]:
        """The encoded inputs in declared order; an optional input the codec left out is not sent."""
        return [
            InferInput(t.name, t.datatype, encoded[t.name][0], raw_contents(t.datatype, encoded[t.name][1]))
            for t in self.inputs
            if t.name in encoded
        ]

    def probe_payload(self) -> object:
        if self.probe is not None:
            return self.probe()
        (body,) = self.examples(1, 0)
        if self.body == "image":
            import base64

            from finfer.pipelines.validation import Upload

            return Upload(base64.b64decode(body["image_base64"]), "probe")
        return body

    def make_exporter(self) -> Any:
        return named(self.exporter)()

    def record_builder(self) -> Callable[[Any, Any, Any, Callable[[str | bytes], str]], dict[str, Any]] | None:
        return None if self.record is None else named(self.record)

    def is_built(self, repository: Path) -> bool:
        return (repository / self.meta).exists()

    def model_name(self, version: int) -> str:
        """The Triton model serving `version` of this pipeline."""
        return versioned_model(self.triton_model, version)

    def meta_of(self, version: int) -> str:
        """`meta` in `version`'s folder (`risk_features/1/schema.json` → `risk_features/2/schema.json`)."""
        folder, _, rest = self.meta.split("/", 2)
        return f"{folder}/{version}/{rest}"

    def versions(self, repository: Path) -> list[int]:
        """The built versions, 1 (the served one) first, then the candidates `finfer build --version N` wrote."""
        candidates = []
        for ensemble in repository.glob(f"{self.triton_model}_v*"):
            version = ensemble.name.removeprefix(f"{self.triton_model}_v")
            if version.isdigit() and int(version) > 1 and (repository / self.meta_of(int(version))).exists():
                candidates.append(int(version))
        return [1, *sorted(candidates)] if self.is_built(repository) else []

    def load(self, repository: Path, version: int = 1) -> Codec:
        path = repository / self.meta_of(version)
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run `finfer build --family {self.family}` first")
        return self.codec.load(repository, path)


class Stored(Generic[Result]):
    """A result and its JSON, serialised once. Caches keep the JSON alone (bytes are not tracked by the
    garbage collector, which a cache of 100,000 results in objects kept busy) and the typed result is
    read back from it only when an answer needs it (gRPC)."""

    __slots__ = ("_parse", "_result", "json")

    def __init__(self, json: bytes, result: Result | None = None, parse: Callable[[bytes], Result] | None = None):
        self.json = json
        self._result = result
        self._parse = parse

    @classmethod
    def of(cls, result: Result) -> Stored[Result]:
        return cls(orjson.dumps(result), result)

    @property
    def computed(self) -> Result | None:
        """The typed result when it is in memory (just computed), without parsing the JSON of a cached one."""
        return self._result

    @property
    def result(self) -> Result:
        if self._result is None:
            assert self._parse is not None, "a Stored made from JSON needs its parser"
            self._result = self._parse(self.json)
        return self._result


@dataclass(frozen=True)
class Answer(Generic[Result]):
    """One answer as every route returns it: the result's fields, then the envelope."""

    stored: Stored[Result]
    model_version: str
    request_id: str
    cached: bool | None = None  # None: a pipeline that is never cached, whose answers carry no `cached`

    @property
    def result(self) -> Result:
        return self.stored.result

    def envelope(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model_version": self.model_version, "request_id": self.request_id}
        if self.cached is not None:
            out["cached"] = self.cached
        return out

    def json(self) -> bytes:
        # The result's stored JSON object with the envelope's keys appended: no re-serialising on a hit.
        return splice(self.stored.json, self.envelope())


@dataclass(frozen=True)
class BatchAnswer(Generic[Result]):
    answers: list[Answer[Result]]
    model_version: str
    request_id: str

    def json(self) -> bytes:
        results = b"[" + b",".join(a.json() for a in self.answers) + b"]"
        return splice(
            b'{"results":' + results + b"}", {"model_version": self.model_version, "request_id": self.request_id}
        )


def splice(json_object: bytes, extra: dict[str, Any]) -> bytes:
    """`json_object` (a serialised JSON object) with `extra`'s keys added at its end."""
    tail = orjson.dumps(extra)
    if json_object == b"{}":
        return tail
    return json_object[:-1] + b"," + tail[1:]


def _default(field: dataclasses.Field) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return Field(default_factory=field.default_factory)
    return ... if field.default is dataclasses.MISSING else field.default


@functools.cache
def response_models(pipeline: Pipeline) -> tuple[type[BaseModel], type[BaseModel]]:
    """An answer's model and a batch answer's: the result's fields, then the envelope (OpenAPI and the SDK)."""
    hints = typing.get_type_hints(pipeline.result, include_extras=True)
    fields: dict[str, Any] = {f.name: (hints[f.name], _default(f)) for f in dataclasses.fields(pipeline.result)}
    fields |= {"model_version": (str, ...), "request_id": (str, ...)}
    if pipeline.cached:
        fields["cached"] = (bool, ...)
    name = pipeline.result.__name__
    single = create_model(f"{name}Response", __doc__=pipeline.result.__doc__, **fields)
    batch = create_model(
        f"{name}BatchResponse", results=(list[single], ...), model_version=(str, ...), request_id=(str, ...)
    )
    return single, batch

"""Fraud-ring scoring: one application and its device/phone/IP links → fraud probability with evidence.

Served by the `fraud_score` BLS model (the graph lives in its process). Neither cached nor coalesced
here: a score depends on the graph, which every persisted application changes, and Triton's dynamic
batcher already merges concurrent applications into one graph.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, ValidationError, create_model

from finfer.errors import InvalidArgument
from finfer.models.fraud.features import FEATURE_BOUNDS, FEATURES, KINDS
from finfer.models.fraud.scoring import FraudConfig
from finfer.pipelines.declaration import Answer, BuildTime, Codec, Encoded, Outputs, Pipeline, Tensor
from finfer.pipelines.validation import first_error
from finfer.wire import finfer_pb2

_APPLICATION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
APPLICATION_ID_PATTERN = f"^{_APPLICATION_ID.pattern}$"
_LINK_ID = re.compile(r"[\x21-\x7e]{1,128}")  # printable ASCII, no spaces: ids are opaque
_PHONE = re.compile(r"\+?[0-9]{6,20}")


def _matching(pattern: re.Pattern[str], rule: str):
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"must be {rule}")
        return value

    return AfterValidator(check)


def _link_list(limit: int):
    def check(values: list[str]) -> list[str]:
        if len(values) > limit:
            raise ValueError(f"at most {limit} ids a kind, got {len(values)}")
        seen = set()
        for i, value in enumerate(values):
            if value in seen:
                raise ValueError(f"holds the same id twice (item {i})")
            seen.add(value)
        return values

    return AfterValidator(check)


def _stated(pattern: re.Pattern[str]) -> Field:
    """The pattern in the JSON Schema too (OpenAPI states what the validator enforces)."""
    return Field(json_schema_extra={"pattern": f"^{pattern.pattern}$"})


ApplicationId = Annotated[
    str,
    _stated(_APPLICATION_ID),
    _matching(_APPLICATION_ID, "1 to 64 letters, digits or _.:- starting with a letter or digit"),
]
LinkId = Annotated[str, _stated(_LINK_ID), _matching(_LINK_ID, "1 to 128 printable ASCII characters without spaces")]
Phone = Annotated[str, _stated(_PHONE), _matching(_PHONE, "6 to 20 digits with an optional leading +")]


@dataclass(frozen=True)
class FraudRow:
    """One validated application: features in the model's order, links per kind."""

    application_id: str
    features: tuple[float, ...]
    links: dict[str, tuple[str, ...]]
    persist: bool

    @property
    def has_links(self) -> bool:
        return any(self.links.values())


@dataclass(frozen=True)
class LinkCounts:
    device: list[int]
    phone: list[int]
    ip: list[int]


@dataclass(frozen=True)
class FraudEvidence:
    shared: Annotated[LinkCounts, Field(description="per link in the request: how many other applications share it")]
    neighbours: Annotated[int, Field(description="distinct other applications that share any link")]
    known_fraud_neighbours: int
    suspicious_neighbours: Annotated[
        list[str], Field(description="application ids: known fraud first, then most links shared")
    ]


@dataclass(frozen=True)
class FraudScore:
    fraud_probability: float
    basis: Annotated[str, Field(description="`graph`, or `tabular_only` when the request has no links")]
    evidence: FraudEvidence
    persisted: bool


def request_model(max_links: int) -> type[BaseModel]:
    strict = ConfigDict(extra="forbid", frozen=True)
    features = create_model(
        "FraudFeatures",
        __config__=strict,
        **{
            name: (Annotated[float, Field(strict=True, ge=low, le=high, allow_inf_nan=False)], ...)
            for name, (low, high) in FEATURE_BOUNDS.items()
        },
    )
    items = {"device": LinkId, "phone": Phone, "ip": LinkId}
    links = create_model(
        "FraudLinks",
        __config__=strict,
        **{
            kind: (
                Annotated[
                    list[items[kind]],
                    Field(json_schema_extra={"maxItems": max_links, "uniqueItems": True}),
                    _link_list(max_links),
                ],
                [],
            )
            for kind in KINDS
        },
    )
    return create_model(
        "FraudScoreRequest",
        __config__=strict,
        application_id=(ApplicationId, ...),
        features=(features, ...),
        links=(links, Field(default_factory=links)),
        persist=(StrictBool, False),
    )


class FraudCodec(Codec[FraudRow, FraudScore]):
    def __init__(self, meta: dict[str, Any]) -> None:
        super().__init__(meta)
        self.config = FraudConfig.from_dict(meta)
        self.model = request_model(self.config.max_links)

    def row(self, payload: object) -> FraudRow:
        if not isinstance(payload, dict):
            raise InvalidArgument("body: must be a JSON object", None)
        return self.batch_row(payload, "")

    def batch_row(self, item: object, where: str) -> FraudRow:
        """`item` (an object) as a row; `where` (`fraud` in an application) prefixes the field named in errors."""
        try:
            request = self.model.model_validate(item)
        except ValidationError as exc:
            raise first_error(exc, where) from None
        return FraudRow(
            application_id=request.application_id,
            features=tuple(getattr(request.features, name) for name in FEATURES),
            links={kind: tuple(getattr(request.links, kind)) for kind in KINDS},
            persist=request.persist,
        )

    def encode(self, rows: Sequence[FraudRow]) -> Encoded:
        width = self.config.max_links
        padded = [v for row in rows for ids in row.links.values() for v in (*ids, *[""] * (width - len(ids)))]
        n = len(rows)
        return {
            "application_id": ((n, 1), [r.application_id for r in rows]),
            "features": ((n, len(FEATURES)), [r.features for r in rows]),
            "link_ids": ((n, len(KINDS), width), padded),
            "persist": ((n, 1), [r.persist for r in rows]),
        }

    def decode(self, outputs: Outputs, rows: Sequence[FraudRow]) -> list[FraudScore]:
        n = len(rows)
        counts, suspicious = outputs["shared_counts"], outputs["suspicious_neighbours"]
        width = len(counts) // (n * len(KINDS))
        top = len(suspicious) // n
        results = []
        for i, row in enumerate(rows):
            base = i * len(KINDS) * width
            shared = {
                kind: counts[base + k * width : base + k * width + len(ids)]
                for k, (kind, ids) in enumerate(row.links.items())
            }
            results.append(
                FraudScore(
                    fraud_probability=outputs["fraud_probability"][i],
                    basis="graph" if row.has_links else "tabular_only",
                    evidence=FraudEvidence(
                        shared=LinkCounts(**shared),
                        neighbours=outputs["neighbours"][i],
                        known_fraud_neighbours=outputs["known_fraud_neighbours"][i],
                        suspicious_neighbours=[s for s in suspicious[i * top : (i + 1) * top] if s],
                    ),
                    persisted=row.persist,
                )
            )
        return results

    def drift_inputs(self, row: FraudRow) -> dict[str, object]:
        return dict(zip(FEATURES, row.features, strict=True))

    def drift_outputs(self, result: FraudScore) -> dict[str, object]:
        return {"fraud_probability": result.fraud_probability}

    def request_schema(self) -> dict[str, Any]:
        return self.model.model_json_schema()


def scoring_fields(message: Any) -> dict[str, Any]:
    """`features`, `links` and `persist` of a FraudScoreRequest (or an application's ApplicationFraud)."""
    links = message.links
    return {
        "features": dict(message.features),
        "links": {"device": list(links.device), "phone": list(links.phone), "ip": list(links.ip)},
        "persist": message.persist,
    }


def from_proto(request: finfer_pb2.FraudScoreRequest) -> dict[str, Any]:
    """The HTTP body's shape, so one validator names the same fields for both protocols."""
    return {"application_id": request.application_id, **scoring_fields(request)}


def to_proto(answer: Answer[FraudScore]) -> finfer_pb2.FraudScoreResponse:
    result = answer.result
    evidence = result.evidence
    return finfer_pb2.FraudScoreResponse(
        fraud_probability=result.fraud_probability,
        basis=result.basis,
        evidence=finfer_pb2.FraudEvidence(
            shared=finfer_pb2.LinkCounts(**asdict(evidence.shared)),
            neighbours=evidence.neighbours,
            known_fraud_neighbours=evidence.known_fraud_neighbours,
            suspicious_neighbours=evidence.suspicious_neighbours,
        ),
        persisted=result.persisted,
        **answer.envelope(),
    )


def examples(n: int, seed: int) -> list[dict[str, Any]]:
    from finfer.models.fraud.training.graph_data import scoring_requests

    return scoring_requests(n, seed=seed)


PIPELINE = Pipeline(
    name="fraud",
    triton_model="fraud_score",
    inputs=(
        Tensor("application_id", "BYTES"),
        Tensor("features", "FP32"),
        Tensor("link_ids", "BYTES"),
        Tensor("persist", "BOOL"),
    ),
    outputs=(
        Tensor("fraud_probability", "FP32"),
        Tensor("shared_counts", "INT64"),
        Tensor("neighbours", "INT64"),
        Tensor("known_fraud_neighbours", "INT64"),
        Tensor("suspicious_neighbours", "BYTES"),
    ),
    family="fraud",
    exporter="finfer.exporters.fraud:FraudExporter",
    meta="fraud_score/1/meta.json",
    codec=FraudCodec,
    result=FraudScore,
    http_path="/v1/fraud/score",
    grpc_service="FraudScoring",
    grpc_method="Score",
    summary=(
        "Fraud-ring probability of one application from its device/phone/IP neighbourhood, with evidence.\n\n"
        "`persist: true` adds the application and its links to the graph, so later applications see it."
    ),
    from_proto=from_proto,
    to_proto=to_proto,
    examples=examples,
    build_time=BuildTime(full=45, small=15),
    tag="fraud",
)

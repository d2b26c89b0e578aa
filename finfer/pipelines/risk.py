"""Credit-risk scoring: one applicant's raw fields → probability of default, grade and reason codes.

Served by the `risk_score` ensemble; cached and coalesced (answers are deterministic per model version).
The request model is built from the trained feature schema, so the API follows a lender's own CSV.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from google.protobuf import struct_pb2
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from finfer.errors import InvalidArgument
from finfer.models.risk.scoring import FeatureSchema
from finfer.pipelines.declaration import Answer, Batch, BuildTime, Codec, Comparison, Encoded, Outputs, Pipeline, Tensor
from finfer.pipelines.validation import first_error
from finfer.wire import finfer_pb2


@dataclass(frozen=True)
class ApplicantRow:
    """One validated applicant in the model's column order."""

    categorical: tuple[str, ...]
    numeric: tuple[float, ...]


@dataclass(frozen=True)
class Reason:
    feature: str
    value: str
    contribution: Annotated[float, Field(description="log-odds this field added to the risk (TreeSHAP)")]
    text: str


@dataclass(frozen=True)
class RiskScore:
    probability_of_default: float
    grade: str
    reasons: Annotated[list[Reason], Field(description="the fields that raised the risk most, at most 4")]


def reasons_of(outputs: Outputs, n: int) -> list[list[Reason]]:
    """Each of `n` rows' reasons from the flat `reason_*` outputs (k a row, the empty padding left out)."""
    features, values = outputs["reason_feature"], outputs["reason_value"]
    contributions, texts = outputs["reason_contribution"], outputs["reason_text"]
    k = len(features) // n
    return [
        [Reason(features[j], values[j], contributions[j], texts[j]) for j in range(i * k, (i + 1) * k) if features[j]]
        for i in range(n)
    ]


def reasons_to_proto(reasons: Sequence[Reason]) -> list[finfer_pb2.Reason]:
    return [
        finfer_pb2.Reason(feature=r.feature, value=r.value, contribution=r.contribution, text=r.text) for r in reasons
    ]


# The model reads FP32: a larger number would reach it as infinity.
FLOAT32_MAX = 3.4028234663852886e38


def applicant_model(schema: FeatureSchema) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for name in schema.numeric:
        bound = schema.numeric_minimum.get(name)
        number = Annotated[
            float, Field(strict=True, ge=bound, le=FLOAT32_MAX, allow_inf_nan=False, title=schema.label(name))
        ]
        fields[name] = (number, ...)
    for name, values in schema.categorical.items():
        fields[name] = (Annotated[Literal[values], Field(title=schema.label(name))], ...)
    config = ConfigDict(extra="forbid", frozen=True)
    return create_model("Applicant", __config__=config, **fields)


class RiskCodec(Codec[ApplicantRow, RiskScore]):
    def __init__(self, meta: dict[str, Any]) -> None:
        super().__init__(meta)
        self.schema = FeatureSchema.from_dict(meta)
        self.model = applicant_model(self.schema)

    def row(self, payload: object) -> ApplicantRow:
        return self.batch_row(payload, "")

    def batch_row(self, item: object, where: str) -> ApplicantRow:
        if not isinstance(item, dict):
            raise InvalidArgument(f"{where or 'body'}: must be a JSON object", where or None)
        try:
            values = self.model.model_validate(item).__dict__
        except ValidationError as exc:
            raise first_error(exc, where) from None
        return ApplicantRow(
            categorical=tuple(values[c] for c in self.schema.categorical),
            numeric=tuple(values[n] for n in self.schema.numeric),
        )

    def key(self, row: ApplicantRow) -> tuple:
        return (*row.categorical, *row.numeric)

    def compare(self, served: RiskScore, other: RiskScore) -> Comparison:
        ours, theirs = {r.feature for r in served.reasons}, {r.feature for r in other.reasons}
        return Comparison(
            agree=served.grade == other.grade,
            difference=abs(served.probability_of_default - other.probability_of_default),
            overlap=len(ours & theirs) / len(ours | theirs) if ours | theirs else 1.0,
        )

    def encode(self, rows: Sequence[ApplicantRow]) -> Encoded:
        n = len(rows)
        return {
            "categorical_features": (
                (n, len(self.schema.categorical)),
                [v for r in rows for v in r.categorical],
            ),
            "numeric_features": ((n, len(self.schema.numeric)), [r.numeric for r in rows]),
        }

    def decode(self, outputs: Outputs, rows: Sequence[ApplicantRow]) -> list[RiskScore]:
        reasons = reasons_of(outputs, len(rows))
        return [
            RiskScore(outputs["probability_of_default"][i], outputs["grade"][i], reasons[i]) for i in range(len(rows))
        ]

    def request_schema(self) -> dict[str, Any]:
        return self.model.model_json_schema()

    def item_schema(self) -> dict[str, Any]:
        return self.request_schema()

    def fields(self, row: ApplicantRow) -> dict[str, object]:
        """The row's fields by name: the credit file as the client sent it, validated."""
        values: dict[str, object] = dict(zip(self.schema.categorical, row.categorical, strict=True))
        values.update(zip(self.schema.numeric, row.numeric, strict=True))
        return values

    def drift_inputs(self, row: ApplicantRow) -> dict[str, object]:
        return self.fields(row)

    def drift_outputs(self, result: RiskScore) -> dict[str, object]:
        return {"probability_of_default": result.probability_of_default}


def struct_to_dict(message: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct's top level as plain Python values; nested values stay as lists/dicts for validation to reject."""
    out: dict[str, Any] = {}
    for key, value in message.fields.items():
        kind = value.WhichOneof("kind")
        if kind == "number_value":
            out[key] = value.number_value
        elif kind == "string_value":
            out[key] = value.string_value
        elif kind == "bool_value":
            out[key] = value.bool_value
        elif kind == "null_value":
            out[key] = None
        elif kind == "list_value":
            out[key] = list(value.list_value.values)
        else:
            out[key] = dict(value.struct_value.fields)
    return out


def from_proto(request: finfer_pb2.ScoreRequest) -> dict[str, Any]:
    if not request.HasField("applicant"):
        raise InvalidArgument("applicant: is required", "applicant")
    return struct_to_dict(request.applicant)


def batch_from_proto(request: finfer_pb2.ScoreBatchRequest) -> dict[str, Any]:
    return {"applicants": [struct_to_dict(a) for a in request.applicants]}


def to_proto(answer: Answer[RiskScore]) -> finfer_pb2.ScoreResponse:
    result = answer.result
    return finfer_pb2.ScoreResponse(
        probability_of_default=result.probability_of_default,
        grade=result.grade,
        reasons=reasons_to_proto(result.reasons),
        **answer.envelope(),
    )


def examples(n: int, seed: int) -> list[dict[str, Any]]:
    from finfer.models.risk.applicants import unique_applicants

    return unique_applicants(n, seed)


PIPELINE = Pipeline(
    name="risk",
    triton_model="risk_score",
    inputs=(Tensor("categorical_features", "BYTES"), Tensor("numeric_features", "FP32")),
    outputs=(
        Tensor("probability_of_default", "FP32"),
        Tensor("grade", "BYTES"),
        Tensor("reason_feature", "BYTES"),
        Tensor("reason_value", "BYTES"),
        Tensor("reason_contribution", "FP32"),
        Tensor("reason_text", "BYTES"),
    ),
    family="risk",
    exporter="finfer.exporters.risk:RiskExporter",
    meta="risk_features/1/schema.json",
    codec=RiskCodec,
    result=RiskScore,
    http_path="/v1/risk/score",
    grpc_service="RiskScoring",
    grpc_method="Score",
    summary="Score one applicant: probability of default, grade and adverse-action reasons.",
    from_proto=from_proto,
    to_proto=to_proto,
    examples=examples,
    proto_body=lambda body: {"applicant": body},
    batch=Batch(
        http_path="/v1/risk/score:batch",
        grpc_method="ScoreBatch",
        field="applicants",
        items="applicant objects",
        item_schema=lambda codec: codec.item_schema(),
        from_proto=batch_from_proto,
        summary="Score up to `max_batch_rows` applicants; results come back in order.",
    ),
    cached=True,
    coalesced=True,
    build_time=BuildTime(full=3, small=3),
    tag="risk",
)

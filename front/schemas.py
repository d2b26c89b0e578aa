"""Request validation built from the trained model's feature schema, shared by HTTP and gRPC."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from finfer.front.errors import InvalidArgument
from finfer.models.risk import FeatureSchema


@dataclass(frozen=True)
class ApplicantRow:
    """One validated applicant in the model's column order."""

    categorical: tuple[str, ...]
    numeric: tuple[float, ...]


def applicant_model(schema: FeatureSchema) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for name in schema.numeric:
        bound = schema.numeric_minimum.get(name)
        number = Annotated[float, Field(strict=True, ge=bound, allow_inf_nan=False, title=schema.label(name))]
        fields[name] = (number, ...)
    for name, values in schema.categorical.items():
        fields[name] = (Annotated[Literal[values], Field(title=schema.label(name))], ...)
    config = ConfigDict(extra="forbid", frozen=True)
    return create_model("Applicant", __config__=config, **fields)


class ApplicantValidator:
    """Turns a decoded JSON object (or gRPC Struct) into an ApplicantRow, or an InvalidArgument naming the field."""

    def __init__(self, schema: FeatureSchema) -> None:
        self.schema = schema
        self.model = applicant_model(schema)

    def row(self, payload: object, where: str = "") -> ApplicantRow:
        if not isinstance(payload, dict):
            raise InvalidArgument(f"{where or 'body'}: must be a JSON object", where or None)
        try:
            applicant = self.model.model_validate(payload)
        except ValidationError as exc:
            raise first_error(exc, where) from None
        values = applicant.__dict__
        return ApplicantRow(
            categorical=tuple(values[c] for c in self.schema.categorical),
            numeric=tuple(values[n] for n in self.schema.numeric),
        )

    def json_schema(self) -> dict[str, Any]:
        return self.model.model_json_schema()


def first_error(exc: ValidationError, where: str = "") -> InvalidArgument:
    error = exc.errors(include_url=False)[0]
    path = ".".join(str(p) for p in error["loc"])
    field = f"{where}.{path}" if where and path else (where or path or None)
    kind = error["type"]
    if kind == "missing":
        message = "is required"
    elif kind == "extra_forbidden":
        message = "is not a known field"
    elif kind == "value_error":
        message = str(error["ctx"]["error"])
    else:
        message = error["msg"][0].lower() + error["msg"][1:]
        if kind == "literal_error":
            message = f"{message}; got {error['input']!r}"
    return InvalidArgument(f"{field}: {message}", field)


class Reason(BaseModel):
    feature: str
    value: str
    contribution: float
    text: str


class ScoreResponse(BaseModel):
    probability_of_default: float
    grade: str
    reasons: list[Reason]
    model_version: str
    request_id: str
    cached: bool


class ScoreBatchResponse(BaseModel):
    results: list[ScoreResponse]
    model_version: str
    request_id: str


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None


class ErrorResponse(BaseModel):
    model_config = ConfigDict(title="Error")
    error: ErrorDetail

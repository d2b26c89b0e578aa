"""Validation of fraud-scoring requests, built from the served model's meta.json; shared by HTTP and gRPC."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, ValidationError, create_model

from finfer.front.errors import InvalidArgument
from finfer.front.schemas import first_error
from finfer.models.fraud_data import FEATURE_BOUNDS, FEATURES, KINDS
from finfer.models.fraud_scoring import FraudConfig

_APPLICATION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
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


ApplicationId = Annotated[
    str, _matching(_APPLICATION_ID, "1 to 64 letters, digits or _.:- starting with a letter or digit")
]
LinkId = Annotated[str, _matching(_LINK_ID, "1 to 128 printable ASCII characters without spaces")]
Phone = Annotated[str, _matching(_PHONE, "6 to 20 digits with an optional leading +")]


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


def request_model(config: FraudConfig) -> type[BaseModel]:
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
                    Field(json_schema_extra={"maxItems": config.max_links}),
                    _link_list(config.max_links),
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


class FraudValidator:
    def __init__(self, config: FraudConfig) -> None:
        self.config = config
        self.model = request_model(config)

    def row(self, payload: object) -> FraudRow:
        if not isinstance(payload, dict):
            raise InvalidArgument("body: must be a JSON object", None)
        try:
            request = self.model.model_validate(payload)
        except ValidationError as exc:
            raise first_error(exc) from None
        return FraudRow(
            application_id=request.application_id,
            features=tuple(getattr(request.features, name) for name in FEATURES),
            links={kind: tuple(getattr(request.links, kind)) for kind in KINDS},
            persist=request.persist,
        )

    def json_schema(self) -> dict[str, Any]:
        return self.model.model_json_schema()


class LinkCounts(BaseModel):
    device: list[int]
    phone: list[int]
    ip: list[int]


class FraudEvidence(BaseModel):
    shared: LinkCounts = Field(description="per link in the request: how many other applications share it")
    neighbours: int = Field(description="distinct other applications that share any link")
    known_fraud_neighbours: int
    suspicious_neighbours: list[str] = Field(description="application ids: known fraud first, then most links shared")


class FraudScoreResponse(BaseModel):
    fraud_probability: float
    basis: str = Field(description="`graph`, or `tabular_only` when the request has no links")
    evidence: FraudEvidence
    persisted: bool
    model_version: str
    request_id: str

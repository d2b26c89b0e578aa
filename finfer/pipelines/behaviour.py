"""A loan in servicing: what was known at origination and its monthly statements → the probability of default
next month, with the reasons.

Served by the `behaviour_score` ensemble. The request carries the loan's whole window (the front's loans
service reads it from the shared store for `POST /v1/loans/{id}/statements`): the answer depends on nothing
else, so it is cached and coalesced like risk's.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from finfer.errors import InvalidArgument
from finfer.models.behaviour.features import (
    AGE_MAX,
    AGE_MIN,
    MONTHS,
    STATUS_MAX,
    STATUS_MIN,
    Statement,
    month_index,
    window,
)
from finfer.pipelines.declaration import Answer, Batch, BuildTime, Codec, Comparison, Encoded, Outputs, Pipeline, Tensor
from finfer.pipelines.risk import FLOAT32_MAX, Reason, reasons_of, reasons_to_proto
from finfer.pipelines.validation import first_error
from finfer.wire import finfer_pb2

_PERIOD = re.compile(r"(19[7-9][0-9]|2[0-9]{3})-(0[1-9]|1[0-2])")
MAX_STATEMENTS = 240  # twenty years of months; only the last six count


def current_month() -> int:
    today = dt.datetime.now(dt.UTC)
    return today.year * 12 + today.month - 1


def _period(value: str) -> str:
    if not _PERIOD.fullmatch(value):
        raise ValueError("must be a calendar month as YYYY-MM, from 1970-01")
    if month_index(value) > current_month():
        raise ValueError(f"{value} is in the future")
    return value


def _whole(value: object) -> object:
    """1.0 is the integer 1, as JSON Schema reads it; 1.5 and "1" stay refused."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def whole(low: int, high: int, description: str) -> Any:
    return Annotated[int, Field(strict=True, ge=low, le=high, description=description), BeforeValidator(_whole)]


Period = Annotated[str, Field(json_schema_extra={"pattern": f"^{_PERIOD.pattern}$"}), AfterValidator(_period)]
Amount = Annotated[float, Field(strict=True, ge=0, le=FLOAT32_MAX, allow_inf_nan=False)]


class OriginationIn(BaseModel):
    """What was known of the loan when it was opened."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limit: Annotated[float, Field(strict=True, gt=0, le=FLOAT32_MAX, allow_inf_nan=False, description="credit granted")]
    age: whole(AGE_MIN, AGE_MAX, "the borrower's age at origination")
    education: whole(0, 6, "1 graduate school, 2 university, 3 high school, 4 others, 0/5/6 unknown") = 0


class StatementIn(BaseModel):
    """One month of the loan."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    period: Period
    balance: Annotated[Amount, Field(description="the statement's balance")]
    paid: Annotated[Amount, Field(description="what the borrower paid in the month")]
    status: whole(STATUS_MIN, STATUS_MAX, "-2 no use, -1 paid in full, 0 revolving, 1…9 months late")

    def as_statement(self) -> tuple[int, Statement]:
        return month_index(self.period), Statement(balance=self.balance, paid=self.paid, status=self.status)


def _distinct_periods(statements: list[StatementIn]) -> list[StatementIn]:
    seen: dict[str, int] = {}
    for i, statement in enumerate(statements):
        if statement.period in seen:
            raise ValueError(f"item {i} repeats the period {statement.period} of item {seen[statement.period]}")
        seen[statement.period] = i
    return statements


class LoanHistoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    origination: OriginationIn
    statements: Annotated[
        list[StatementIn],
        Field(max_length=MAX_STATEMENTS, description="in any order; the six latest months count"),
        AfterValidator(_distinct_periods),
    ] = []


@dataclass(frozen=True)
class LoanHistory:
    """One validated loan: origination fields and the model's six slots (None where the month is unknown)."""

    origination: tuple[float, float, float]
    status: tuple[float | None, ...]
    balance: tuple[float | None, ...]
    paid: tuple[float | None, ...]

    @classmethod
    def of(cls, origination: OriginationIn, statements: Sequence[tuple[int, Statement]]) -> LoanHistory:
        def known(values: tuple[float, ...]) -> tuple[float | None, ...]:
            return tuple(None if math.isnan(v) else float(v) for v in values)

        status, balance, paid = window(statements)
        return cls(
            (origination.limit, float(origination.age), float(origination.education)),
            known(status),
            known(balance),
            known(paid),
        )


@dataclass(frozen=True)
class LoanScore:
    probability_of_default: Annotated[float, Field(description="of default within the next month")]
    reasons: Annotated[list[Reason], Field(description="what raised the risk most, at most 4")]


def _unknown(values: tuple[float | None, ...]) -> list[float]:
    return [math.nan if v is None else v for v in values]


class BehaviourCodec(Codec[LoanHistory, LoanScore]):
    def row(self, payload: object) -> LoanHistory:
        return self.batch_row(payload, "")

    def batch_row(self, item: object, where: str) -> LoanHistory:
        if not isinstance(item, dict):
            raise InvalidArgument(f"{where or 'body'}: must be a JSON object", where or None)
        try:
            loan = LoanHistoryIn.model_validate(item)
        except ValidationError as exc:
            raise first_error(exc, where) from None
        return LoanHistory.of(loan.origination, [s.as_statement() for s in loan.statements])

    def key(self, row: LoanHistory) -> tuple:
        return (*row.origination, *row.status, *row.balance, *row.paid)

    def compare(self, served: LoanScore, other: LoanScore) -> Comparison:
        ours, theirs = {r.feature for r in served.reasons}, {r.feature for r in other.reasons}
        difference = abs(served.probability_of_default - other.probability_of_default)
        return Comparison(
            agree=difference < 0.05,
            difference=difference,
            overlap=len(ours & theirs) / len(ours | theirs) if ours | theirs else 1.0,
        )

    def encode(self, rows: Sequence[LoanHistory]) -> Encoded:
        n = len(rows)
        return {
            "origination": ((n, 3), [r.origination for r in rows]),
            "status": ((n, MONTHS), [_unknown(r.status) for r in rows]),
            "balance": ((n, MONTHS), [_unknown(r.balance) for r in rows]),
            "paid": ((n, MONTHS), [_unknown(r.paid) for r in rows]),
        }

    def decode(self, outputs: Outputs, rows: Sequence[LoanHistory]) -> list[LoanScore]:
        reasons = reasons_of(outputs, len(rows))
        return [LoanScore(outputs["probability_of_default"][i], reasons[i]) for i in range(len(rows))]

    def request_schema(self) -> dict[str, Any]:
        return LoanHistoryIn.model_json_schema()

    def item_schema(self) -> dict[str, Any]:
        return self.request_schema()

    def drift_inputs(self, row: LoanHistory) -> dict[str, object] | None:
        if row.status[0] is None:
            return None  # origination only: the reference is of loans six months in
        limit, age, _ = row.origination
        return {
            "limit": limit,
            "age": age,
            "status_0": row.status[0],
            "balance_0": row.balance[0],
            "paid_0": row.paid[0],
        }

    def drift_outputs(self, result: LoanScore) -> dict[str, object]:
        return {"probability_of_default": result.probability_of_default}


def origination_from_proto(message: finfer_pb2.LoanOrigination) -> dict[str, Any]:
    return {"limit": message.limit, "age": message.age, "education": message.education}


def statement_from_proto(message: finfer_pb2.LoanStatement) -> dict[str, Any]:
    return {"period": message.period, "balance": message.balance, "paid": message.paid, "status": message.status}


def from_proto(request: finfer_pb2.LoanScoreRequest) -> dict[str, Any]:
    if not request.HasField("origination"):
        raise InvalidArgument("origination: is required", "origination")
    return {
        "origination": origination_from_proto(request.origination),
        "statements": [statement_from_proto(s) for s in request.statements],
    }


def batch_from_proto(request: finfer_pb2.LoanScoreBatchRequest) -> dict[str, Any]:
    return {"loans": [from_proto(loan) for loan in request.loans]}


def to_proto(answer: Answer[LoanScore]) -> finfer_pb2.LoanScoreResponse:
    result = answer.result
    return finfer_pb2.LoanScoreResponse(
        probability_of_default=result.probability_of_default,
        reasons=reasons_to_proto(result.reasons),
        **answer.envelope(),
    )


def examples(n: int, seed: int) -> list[dict[str, Any]]:
    from finfer.models.behaviour.training.cards import example_loans

    return example_loans(n, seed)


PIPELINE = Pipeline(
    name="behaviour",
    triton_model="behaviour_score",
    inputs=(
        Tensor("origination", "FP32"),
        Tensor("status", "FP32"),
        Tensor("balance", "FP32"),
        Tensor("paid", "FP32"),
    ),
    outputs=(
        Tensor("probability_of_default", "FP32"),
        Tensor("reason_feature", "BYTES"),
        Tensor("reason_value", "BYTES"),
        Tensor("reason_contribution", "FP32"),
        Tensor("reason_text", "BYTES"),
    ),
    family="behaviour",
    exporter="finfer.exporters.behaviour:BehaviourExporter",
    meta="behaviour_features/1/meta.json",
    codec=BehaviourCodec,
    result=LoanScore,
    http_path="/v1/loans/score",
    grpc_service="LoanScoring",
    grpc_method="Score",
    summary="Score a loan from its origination fields and statements: probability of default next month, reasons.",
    from_proto=from_proto,
    to_proto=to_proto,
    examples=examples,
    batch=Batch(
        http_path="/v1/loans/score:batch",
        grpc_method="ScoreBatch",
        field="loans",
        items="loan objects",
        item_schema=lambda codec: codec.item_schema(),
        from_proto=batch_from_proto,
        summary="Score up to `max_batch_rows` loans (a portfolio's rescore); results come back in order.",
    ),
    cached=True,
    coalesced=True,
    build_time=BuildTime(full=15, small=8),
    tag="loans",
)

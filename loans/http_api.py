"""HTTP adapter of the loans service: open a loan, send its statements, read it, and work the early-warning queue.

(No `from __future__ import annotations` here: FastAPI reads the routes' annotations, which name local aliases.)
"""

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from finfer.access.guard import Guard
from finfer.errors import ErrorDetail, FrontError, openapi_errors
from finfer.front.dataplane import new_request_id
from finfer.front.http_app import add_post, batch_body, json_body, parse_json, read_body
from finfer.loans.ids import ID_PATTERN, Id
from finfer.loans.service import LoanService, OpenLoan, StatementBody, item_field
from finfer.office.records_api import caller
from finfer.pipelines.risk import Reason
from finfer.pipelines.validation import batch_items
from finfer.settings import Settings

SCOPE = "loans"
ERRORS = openapi_errors(400, 401, 403, 404, 409, 429, 503)


class Opened(BaseModel):
    loan_id: str
    opened_at: str
    created: Annotated[bool, Field(description="false: the loan was open already, with the same origination")]


class TreatmentOut(BaseModel):
    action: Annotated[str, Field(description="none, reminder, call, deferral_offer, restructuring_offer, collector")]
    band: str
    reason: str


class LoanUpdate(BaseModel):
    loan_id: str
    statement_id: str
    period: str
    probability_of_default: Annotated[float, Field(description="of default within the next month")]
    change: Annotated[float, Field(description="since the score before this statement (origination's for the first)")]
    reasons: list[Reason]
    treatment: TreatmentOut
    model_version: str
    request_id: str
    out_of_order: Annotated[bool, Field(description="a later month was known: placed in its period, later rescored")]
    repeated: Annotated[bool, Field(description="taken before: the answer it got the first time")]


class BatchStatement(StatementBody):
    loan_id: Id


class StatementResult(BaseModel):
    """A LoanUpdate, or `error` for a statement refused on its own (the others are taken all the same)."""

    model_config = ConfigDict(extra="allow")

    error: ErrorDetail | None = None


class StatementResults(BaseModel):
    results: list[StatementResult]
    request_id: str


def where(i: int, error: FrontError) -> dict[str, Any]:
    """A batch item's error names its item: `statements[3].period`."""
    return {"error": error.body()["error"] | {"field": item_field("statements", i, error.field)}}


class StatementOut(BaseModel):
    statement_id: str
    period: str
    balance: float
    paid: float
    status: int
    message_intent: str | None
    probability_of_default: Annotated[float | None, Field(description="with every statement to its period known")]
    treatment: TreatmentOut | None


class FromApplication(BaseModel):
    application_id: str
    score: Annotated[float | None, Field(description="the risk branch's probability of default at origination")]
    credit_file: dict[str, Any]


class LoanOut(BaseModel):
    loan_id: str
    origination: dict[str, Any]
    opened_at: str
    application: Annotated[FromApplication | None, Field(description="what the loan keeps of its application")]
    probability_of_default: float | None
    band: str | None
    treatment: Annotated[TreatmentOut | None, Field(description="after the latest statement")]
    statements: list[StatementOut]


class Warning(BaseModel):
    loan_id: str
    latest_period: str
    probability: float
    band: str
    action: str
    updated_at: str


class WarningPage(BaseModel):
    loans: list[Warning]
    bands: list[str]
    page: int
    page_size: int
    total: int


def loans_router(service: LoanService, guard: Guard, settings: Settings) -> APIRouter:
    router = APIRouter(tags=["loans"], responses=ERRORS)
    Caller = caller(guard, SCOPE)

    def json(body: Any) -> Response:
        return Response(orjson.dumps(body), media_type="application/json")

    async def opened(request: Request) -> bytes:
        guard.check(request.headers.get("authorization"), (SCOPE,))
        return orjson.dumps(await service.open(parse_json(await read_body(request, settings.max_body_bytes))))

    add_post(
        router,
        "/v1/loans",
        opened,
        settings,
        response_model=Opened,
        openapi_extra=json_body(OpenLoan.model_json_schema()),
        summary="Open a loan with its origination fields; opening it again with the same fields changes nothing.",
        name="open_loan",
    )

    async def statement(request: Request) -> bytes:
        guard.check(request.headers.get("authorization"), (SCOPE,))
        body = parse_json(await read_body(request, settings.max_body_bytes))
        request_id = request.headers.get("x-request-id") or new_request_id()
        return orjson.dumps(await service.submit(request.path_params["loan_id"], body, request_id))

    add_post(
        router,
        "/v1/loans/{loan_id}/statements",
        statement,
        settings,
        response_model=LoanUpdate,
        openapi_extra=json_body(StatementBody.model_json_schema())
        | {
            "parameters": [
                {
                    "name": "loan_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": ID_PATTERN, "maxLength": 64},
                }
            ]
        },
        summary="Take one month's statement: the loan's updated probability of default, its reasons and treatment.",
        name="loan_statement",
    )

    bands = "|".join(service.treatments.warning_bands)

    async def statements(request: Request) -> bytes:
        guard.check(request.headers.get("authorization"), (SCOPE,))
        payload = parse_json(await read_body(request, settings.max_body_bytes))
        items = batch_items(payload, "statements", "statement objects", settings.max_batch_rows)
        request_id = request.headers.get("x-request-id") or new_request_id()
        pairs = [(item.pop("loan_id", None) if isinstance(item, dict) else None, item) for item in items]
        answers = await service.submit_many(pairs, request_id, where="statements")
        results = [a.body() | where(i, a) if isinstance(a, FrontError) else a for i, a in enumerate(answers)]
        return orjson.dumps({"results": results, "request_id": request_id})

    add_post(
        router,
        "/v1/loans/statements:batch",
        statements,
        settings,
        response_model=StatementResults,
        openapi_extra=batch_body("statements", BatchStatement.model_json_schema(), settings.max_batch_rows),
        summary="Take statements of any loans at once (a servicing system's month, `finfer loans rescore`); each is "
        "answered in order, or refused on its own with `error`.",
        name="loan_statements_batch",
    )

    @router.get("/v1/loans/warnings", response_model=WarningPage)
    async def warnings(
        _: Annotated[Any, Caller],
        band: Annotated[
            str | None, Query(pattern=f"^({bands})$", description="one of the policy's warning bands")
        ] = None,
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
        page_size: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> Response:
        """The early-warning queue: loans whose latest score is in a warning band (or in `band`), newest first."""
        return json(await service.warnings(band, page, page_size))

    @router.get("/v1/loans/{loan_id}", response_model=LoanOut)
    async def loan(
        loan_id: Annotated[str, Path(pattern=ID_PATTERN, max_length=64)], _: Annotated[Any, Caller]
    ) -> Response:
        """A loan: its origination, its statements with their scores, its current band."""
        return json(await service.loan(loan_id))

    return router

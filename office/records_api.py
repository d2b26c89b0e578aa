"""HTTP adapter of the decision store: an application's record, and the review queue (list, claim, resolve).

Database calls run in a worker thread; a database that does not answer is a 503, never a hang. (No
`from __future__ import annotations` here: FastAPI reads the routes' annotations, which name local aliases.)
"""

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

import grpc
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from finfer.access.guard import Guard, Principal
from finfer.application.request import checked_application_id
from finfer.errors import openapi_errors
from finfer.front.grpc_server import unary
from finfer.pipelines.fraud import APPLICATION_ID_PATTERN
from finfer.store.database import off_loop
from finfer.store.decisions import DecisionStore
from finfer.wire import finfer_pb2

T = TypeVar("T")

ERRORS = openapi_errors(400, 401, 403, 404, 409, 429, 503)


class Records:
    """The store as the front calls it: off the event loop, a dead database as Unavailable."""

    def __init__(self, store: DecisionStore) -> None:
        self.store = store

    async def call(self, method: Callable[..., T], *args: Any) -> T:
        return await off_loop(method, *args)


class Case(BaseModel):
    case_id: int
    application_id: str
    status: Literal["open", "claimed", "resolved"]
    reasons: Annotated[list[str], Field(description="the decision's reason codes, in order")]
    opened_at: str
    claimed_by: str | None
    claimed_at: str | None
    resolved_by: str | None
    resolved_at: str | None
    outcome: Literal["approve", "decline"] | None


class TrailStep(BaseModel):
    seq: int
    kind: Literal["decision", "claim", "review"]
    at: str
    by: Annotated[str, Field(description="`finfer` for decisions, else the reviewer's key name")]
    what: str


class CaseDetail(Case):
    decision: Annotated[dict[str, Any], Field(description="the decision under review, as recorded")]
    trail: list[TrailStep]


class CasePage(BaseModel):
    cases: list[Case]
    page: int
    page_size: int
    total: int


class LoanOpened(BaseModel):
    loan_id: str
    opened: Annotated[bool, Field(description="false: the loan was not opened, and `why`")]
    created: Annotated[bool | None, Field(description="false: it was open already, from this application")] = None
    opened_at: str | None = None
    why: str | None = None


class ApplicationRecord(BaseModel):
    application_id: str
    final_decision: Annotated[
        Literal["approve", "review", "decline"], Field(description="the reviewer's outcome, else the decision")
    ]
    decision: Annotated[
        dict[str, Any],
        Field(description="the latest decision: reasons, branches, results, versions, credit file, input digests"),
    ]
    case: Case | None
    trail: list[TrailStep]
    loan: Annotated[
        LoanOpened | None,
        Field(description="the loan named by the application's `loan_id`, as its approval (or review) left it"),
    ]


class Resolution(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Literal["approve", "decline"]
    note: Annotated[str, Field(max_length=2000)] = ""


def caller(guard: Guard, *scopes: str) -> Any:
    """A dependency: the principal allowed one of `scopes` (401/403/429 otherwise)."""

    def check(request: Request) -> Principal:
        return guard.check(request.headers.get("authorization"), scopes)

    return Depends(check)


ApplicationId = Annotated[str, Path(pattern=APPLICATION_ID_PATTERN, max_length=64)]
CaseId = Annotated[int, Path(ge=1, le=2**62)]


def records_router(records: Records, guard: Guard, json: Callable[[Any], Response]) -> APIRouter:
    router = APIRouter(tags=["reviews"], responses=ERRORS)
    Reader = Annotated[Principal, caller(guard, "reviews:read")]
    Writer = Annotated[Principal, caller(guard, "reviews:write")]
    store = records.store

    @router.get("/v1/applications/{application_id}", response_model=ApplicationRecord, tags=["applications"])
    async def application_record(
        application_id: ApplicationId, _: Annotated[Principal, caller(guard, "applications", "reviews:read")]
    ) -> Response:
        """The latest decision on an application as recorded, its review case and its audit trail."""
        return json(await records.call(store.application, application_id))

    @router.get("/v1/reviews", response_model=CasePage)
    async def list_cases(
        _: Reader,
        status: Literal["open", "claimed", "resolved"] = "open",
        reason: Annotated[str | None, Query(pattern=r"^[A-Z][A-Z0-9_]{0,63}$")] = None,
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
        page_size: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> Response:
        """Review cases in a status, oldest first; `reason` keeps those whose decision gave that reason code."""
        cases, total = await records.call(store.cases, status, reason, page, page_size)
        return json({"cases": cases, "page": page, "page_size": page_size, "total": total})

    @router.get("/v1/reviews/{case_id}", response_model=CaseDetail)
    async def get_case(case_id: CaseId, _: Reader) -> Response:
        """A case with the decision under review and its trail."""
        return json(await records.call(store.case, case_id))

    @router.post("/v1/reviews/{case_id}/claim", response_model=Case)
    async def claim(case_id: CaseId, who: Writer) -> Response:
        """Take an open case; it is handed to no other reviewer. Claiming one's own case again changes nothing."""
        return json(await records.call(store.claim, case_id, who.name))

    @router.post("/v1/reviews/{case_id}/resolve", response_model=Case)
    async def resolve(case_id: CaseId, resolution: Resolution, who: Writer) -> Response:
        """Approve or decline a case one has claimed, with a note; recorded under the key's name, once."""
        return json(await records.call(store.resolve, case_id, who.name, resolution.outcome, resolution.note))

    return router


RECORDS_SERVICE = finfer_pb2.DESCRIPTOR.services_by_name["Records"]


def records_handler(records: Records, guard: Guard) -> grpc.GenericRpcHandler:
    """The Records service: an application's record, as GET /v1/applications/{application_id} answers it."""
    service = RECORDS_SERVICE
    method = service.methods_by_name["GetApplication"]

    async def get(request: Any, context: grpc.aio.ServicerContext) -> Any:
        application_id = checked_application_id(request.application_id)  # as POST /v1/applications checks it
        found = await records.call(records.store.application, application_id)
        answer = finfer_pb2.ApplicationRecord(
            application_id=found["application_id"],
            final_decision=found["final_decision"],
            trail=[finfer_pb2.TrailStep(**step) for step in found["trail"]],
        )
        answer.decision.update(found["decision"])
        if found["case"] is not None:
            answer.case.update(found["case"])
        if found["loan"] is not None:
            answer.loan.update(found["loan"])
        return answer

    scopes = ("applications", "reviews:read")
    handler = unary(f"{service.name}/{method.name}", method, get, guard, scopes)
    return grpc.method_handlers_generic_handler(service.full_name, {method.name: handler})

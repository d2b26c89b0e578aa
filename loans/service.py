"""One loan's statement, end to end: validated, committed to the shared store, scored through the behaviour
pipeline with every statement known up to its period, treated by the policy, and the scores written back.

The store holds the state and Triton gets the window: the embedded Triton has no backend for the sequence
batcher's implicit state, and state kept in one Triton process would be lost with it and differ between
replicas. An out-of-order statement (an older period arriving after a newer one) is placed in its period, and
every later period's score is computed again, so the stored scores equal a replay in period order; refusing it
would lose a statement a servicing system may legitimately send late.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from finfer.errors import InvalidArgument, Unavailable
from finfer.front.dataplane import DataPlane
from finfer.loans.treatments import Situation, Treatments
from finfer.models.behaviour.features import Statement, month_index
from finfer.models.intent.labels import INTENTS
from finfer.pipelines.behaviour import LoanHistory, OriginationIn, StatementIn
from finfer.pipelines.declaration import Answer
from finfer.pipelines.validation import first_error
from finfer.store.database import DatabaseError
from finfer.store.loans import Latest, Ledger, Loan, NewStatement, Scored, StoredStatement

T = TypeVar("T")

PIPELINE = "behaviour"
# Scores computed while another statement of the loan was taken are computed again, this many times at most.
ATTEMPTS = 5
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
ID_PATTERN = f"^{_ID.pattern}$"


ID_RULE = "must be 1 to 64 letters, digits or _.:- starting with a letter or digit"


def _id(value: str) -> str:
    if not _ID.fullmatch(value):
        raise ValueError(ID_RULE)
    return value


Id = Annotated[str, Field(json_schema_extra={"pattern": ID_PATTERN}), AfterValidator(_id)]


class OpenLoan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    loan_id: Id
    origination: OriginationIn


class StatementBody(StatementIn):
    statement_id: Annotated[Id, Field(description="the servicing system's id; a repeat changes nothing")]
    message_intent: Annotated[
        Literal[INTENTS] | None,  # type: ignore[valid-type]
        Field(description="the intent of the borrower's latest message (customer intent's label)"),
    ] = None


def checked(model: type[BaseModel], body: object) -> Any:
    if not isinstance(body, dict):
        raise InvalidArgument("body: must be a JSON object", None)
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise first_error(exc) from None


def checked_loan_id(loan_id: str) -> str:
    if not _ID.fullmatch(loan_id):
        raise InvalidArgument(
            "loan_id: must be 1 to 64 letters, digits or _.:- starting with a letter or digit", "loan_id"
        )
    return loan_id


def history(origination: OriginationIn, statements: Sequence[StoredStatement]) -> LoanHistory:
    return LoanHistory.of(
        origination, [(s.month, Statement(balance=s.balance, paid=s.paid, status=s.status)) for s in statements]
    )


class LoanService:
    def __init__(self, ledger: Ledger, plane: DataPlane, treatments: Treatments) -> None:
        self.ledger = ledger
        self.plane = plane
        self.treatments = treatments

    async def db(self, method: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.to_thread(method, *args)
        except DatabaseError:
            raise Unavailable("the loan store is unreachable; retry later") from None

    async def open(self, body: object) -> dict[str, Any]:
        loan = checked(OpenLoan, body)
        created, opened_at = await self.db(self.ledger.open, loan.loan_id, loan.origination.model_dump())
        return {"loan_id": loan.loan_id, "opened_at": opened_at, "created": created}

    async def submit(self, loan_id: str, body: object, request_id: str) -> dict[str, Any]:
        """The loan's update after one statement; a statement taken before is answered as it was then."""
        loan_id = checked_loan_id(loan_id)
        statement = checked(StatementBody, body)
        new = NewStatement(
            statement_id=statement.statement_id,
            period=statement.period,
            month=month_index(statement.period),
            balance=statement.balance,
            paid=statement.paid,
            status=statement.status,
            intent=statement.message_intent,
        )
        taken = await self.db(self.ledger.take, loan_id, new)
        if taken.answer is not None:
            return json.loads(taken.answer) | {"repeated": True}
        loan = taken.loan
        for _ in range(ATTEMPTS):
            answer = await self._score(loan, new.statement_id, request_id)
            if answer is not None:
                return answer | {"repeated": taken.repeated}
            loan = await self.db(self.ledger.loan, loan_id)
        raise Unavailable(f"loan_id: {loan_id} took other statements while this one was scored; retry", "loan_id")

    async def _score(self, loan: Loan, statement_id: str, request_id: str) -> dict[str, Any] | None:
        """Score the statement and every later or unscored one with the statements known up to each one's period,
        and write them back at the revision read; None when another statement was taken meanwhile."""
        origination = OriginationIn.model_validate(loan.origination)
        statements = loan.statements
        target = next(i for i, s in enumerate(statements) if s.statement_id == statement_id)
        if statements[target].answer is not None:
            # Scored meanwhile by the request of another statement of the loan (it scores every unscored one), at a
            # revision that held this statement: every score this one changes is written already.
            return json.loads(statements[target].answer)
        month = statements[target].month
        affected = [i for i, s in enumerate(statements) if s.month >= month or s.probability is None]
        rows = [history(origination, statements[: i + 1]) for i in affected]
        rows.append(history(origination, ()))  # origination only: what the first statement moved from
        answers = await self.plane.answer_rows(PIPELINE, rows, request_id)
        fresh: dict[int, Answer] = dict(zip(affected, answers, strict=False))
        at_origination = answers[-1].result.probability_of_default

        def probability(i: int) -> float:
            if i < 0:
                return at_origination
            return fresh[i].result.probability_of_default if i in fresh else statements[i].probability

        scored, target_answer = [], None
        for i in affected:
            s = statements[i]
            treatment = self.treatments.treat(Situation(probability(i), s.status, s.balance, s.intent))
            answer = None
            if s.answer is None:
                body = update(loan.loan_id, s, fresh[i], probability(i - 1), treatment, i < len(statements) - 1)
                answer = json.dumps(body | {"repeated": False}, separators=(",", ":"))
                target_answer = body if i == target else target_answer
            scored.append(Scored(s.statement_id, probability(i), treatment.action, answer))
        last = len(statements) - 1
        latest_treatment = self.treatments.treat(
            Situation(probability(last), statements[last].status, statements[last].balance, statements[last].intent)
        )
        latest = Latest(statements[last].period, probability(last), latest_treatment.band, latest_treatment.action)
        if not await self.db(self.ledger.save, loan.loan_id, loan.revision, scored, latest):
            return None
        assert target_answer is not None  # the target had no answer (checked above)
        return target_answer

    async def loan(self, loan_id: str) -> dict[str, Any]:
        loan = await self.db(self.ledger.loan, checked_loan_id(loan_id))
        last = loan.statements[-1] if loan.statements else None
        return {
            "loan_id": loan.loan_id,
            "origination": loan.origination,
            "opened_at": loan.opened_at,
            "probability_of_default": last.probability if last else None,
            "band": self.treatments.band(last.probability) if last and last.probability is not None else None,
            "statements": [
                {
                    "statement_id": s.statement_id,
                    "period": s.period,
                    "balance": s.balance,
                    "paid": s.paid,
                    "status": s.status,
                    "message_intent": s.intent,
                    "probability_of_default": s.probability,
                }
                for s in loan.statements
            ],
        }

    async def warnings(self, band: str | None, page: int, page_size: int) -> dict[str, Any]:
        bands = self.treatments.warning_bands
        if band is not None:
            if band not in bands:
                raise InvalidArgument(f"band: {band!r} is not a warning band; they are {', '.join(bands)}", "band")
            bands = (band,)
        loans, total = await self.db(self.ledger.in_bands, bands, page, page_size)
        return {"loans": loans, "bands": list(bands), "page": page, "page_size": page_size, "total": total}


def update(
    loan_id: str, s: StoredStatement, answer: Answer, before: float, treatment: Any, out_of_order: bool
) -> dict[str, Any]:
    """A statement's answer: its score, how it moved, the reasons and the treatment."""
    result = answer.result
    return {
        "loan_id": loan_id,
        "statement_id": s.statement_id,
        "period": s.period,
        "probability_of_default": result.probability_of_default,
        "change": result.probability_of_default - before,
        "reasons": [dataclasses.asdict(r) for r in result.reasons],
        "treatment": dataclasses.asdict(treatment),
        "model_version": answer.model_version,
        "request_id": answer.request_id,
        "out_of_order": out_of_order,
    }

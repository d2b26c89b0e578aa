"""One loan's statement, end to end: validated, committed to the shared store, scored through the behaviour
pipeline with every statement known up to its period, treated by the policy, and the scores written back.

The store holds the state and Triton gets the window: the embedded Triton has no backend for the sequence
batcher's implicit state, and state kept in one Triton process would be lost with it and differ between
replicas. An out-of-order statement (an older period arriving after a newer one) is placed in its period, and
every later period's score is computed again, so the stored scores equal a replay in period order; refusing it
would lose a statement a servicing system may legitimately send late.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from finfer.errors import Conflict, FrontError, InvalidArgument, Unavailable
from finfer.front.coalescer import Coalescer
from finfer.front.dataplane import DataPlane
from finfer.loans.ids import Id, OptionalId, checked_loan_id
from finfer.loans.treatments import Situation, Treatment, Treatments
from finfer.models.behaviour.features import Statement, month_index
from finfer.models.intent.labels import INTENTS
from finfer.pipelines.behaviour import LoanHistory, OriginationIn, StatementIn
from finfer.pipelines.declaration import Answer
from finfer.pipelines.validation import first_error
from finfer.store.database import off_loop
from finfer.store.decisions import DecisionStore
from finfer.store.loans import (
    NO_ORIGINATION,
    FromApplication,
    Latest,
    Ledger,
    Loan,
    NewStatement,
    Save,
    Scored,
    StoredStatement,
    Taken,
    from_decision,
)

T = TypeVar("T")

PIPELINE = "behaviour"
# Batches of single statements taken and scored at once (each one transaction, one Triton call).
COALESCED_IN_FLIGHT = 2
# Scores computed while another statement of the loan was taken are computed again, this many times at most.
ATTEMPTS = 5


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class OpenLoan(BaseModel):
    """A loan opened with its origination fields, or from a recorded, approved application."""

    # The schema says it too, so that a generated request holds one of them.
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"oneOf": [{"required": ["origination"]}, {"required": ["application_id"]}]},
    )

    loan_id: Id
    # Absent, not null: each is left out when the other is given (the schema shows no default either).
    origination: Annotated[OriginationIn, Field(json_schema_extra=_no_default)] = None  # type: ignore[assignment]
    application_id: Annotated[OptionalId, Field(description="instead of `origination`: an approved application")] = None  # type: ignore[assignment]


def from_record(record: dict[str, Any]) -> tuple[dict[str, Any], FromApplication]:
    """An approved application's record as a loan's origination fields and what the loan keeps of it."""
    application_id = record["application_id"]
    if record["final_decision"] != "approve":
        raise Conflict(
            f"application_id: {application_id} was not approved ({record['final_decision']}); no loan is opened",
            "application_id",
        )
    opened = from_decision(application_id, record["decision"])
    if opened is None:
        raise Conflict(
            f"application_id: {application_id}'s {NO_ORIGINATION}; open the loan with origination", "application_id"
        )
    return opened


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


def history(origination: OriginationIn, statements: Sequence[StoredStatement]) -> LoanHistory:
    return LoanHistory.of(
        origination, [(s.month, Statement(balance=s.balance, paid=s.paid, status=s.status)) for s in statements]
    )


def new_statement(statement: StatementBody) -> NewStatement:
    return NewStatement(
        statement_id=statement.statement_id,
        period=statement.period,
        month=month_index(statement.period),
        balance=statement.balance,
        paid=statement.paid,
        status=statement.status,
        intent=statement.message_intent,
    )


@dataclass(frozen=True)
class Mark:
    """What the request that sent a statement says of it: whether a later month of its loan was taken before it,
    and the request's id (its first answer carries it)."""

    late: bool
    request_id: str


Marks = dict[tuple[str, str], Mark]  # by (loan id, statement id)


@dataclass(frozen=True)
class Outcome:
    scored: list[Scored]
    latest: Latest
    bodies: dict[str, dict[str, Any]]  # the first answers of statements scored for the first time


@dataclass(frozen=True)
class Plan:
    """What one loan needs scored: every statement from its earliest unscored month on (the months whose window
    holds it), each with the statements up to its period, and the origination alone (the first month's `change`)."""

    loan: Loan
    affected: list[int]  # indices into loan.statements
    rows: list[LoanHistory]
    marks: Marks

    @classmethod
    def of(cls, loan: Loan, marks: Marks) -> Plan:
        origination = OriginationIn.model_validate(loan.origination)
        statements = loan.statements
        first = min(s.month for s in statements if s.probability is None)
        affected = [i for i, s in enumerate(statements) if s.month >= first]
        rows = [history(origination, statements[: i + 1]) for i in affected]
        return cls(loan, affected, [*rows, history(origination, ())], marks)

    def outcome(self, answers: Sequence[Answer], treatments: Treatments) -> Outcome:
        statements = self.loan.statements
        fresh = dict(zip(self.affected, answers, strict=False))
        at_origination = answers[-1].result.probability_of_default

        def probability(i: int) -> float:
            if i < 0:
                return at_origination
            return fresh[i].result.probability_of_default if i in fresh else statements[i].probability

        scored, bodies = [], {}
        for i in self.affected:
            s = statements[i]
            treatment = treated(treatments, s, probability(i))
            answer = None
            if s.answer is None:
                mark = self.marks.get((self.loan.loan_id, s.statement_id), Mark(False, fresh[i].request_id))
                body = update(self.loan.loan_id, s, fresh[i], probability(i - 1), treatment, mark.late)
                bodies[s.statement_id] = body | {"request_id": mark.request_id}
                answer = json.dumps(bodies[s.statement_id] | {"repeated": False}, separators=(",", ":"))
            scored.append(Scored(s.statement_id, probability(i), treatment.action, answer))
        # The latest month is always among the affected (they run from the earliest unscored one to the end).
        latest = Latest(statements[-1].period, scored[-1].probability, treatment.band, treatment.action)
        return Outcome(scored, latest, bodies)


def treated(treatments: Treatments, s: StoredStatement, probability: float) -> Treatment:
    """The policy's treatment of a loan whose latest known month is `s`, scored `probability`."""
    return treatments.treat(Situation(probability, s.status, s.balance, s.intent))


def item_field(where: str, i: int, field: str | None) -> str:
    """A batch item's field as the batch names it: `statements[3].period`."""
    return f"{where}[{i}].{field}" if field else f"{where}[{i}]"


class LoanService:
    def __init__(self, ledger: Ledger, plane: DataPlane, treatments: Treatments, records: DecisionStore) -> None:
        self.ledger = ledger
        self.records = records
        self.together: Coalescer = Coalescer(self._together, plane.settings.max_batch_rows, COALESCED_IN_FLIGHT)
        self.plane = plane
        self.treatments = treatments

    async def db(self, method: Callable[..., T], *args: Any) -> T:
        return await off_loop(method, *args, store="the loan store")

    async def open(self, body: object) -> dict[str, Any]:
        loan = checked(OpenLoan, body)
        if (loan.origination is None) == (loan.application_id is None):
            raise InvalidArgument("origination: give either `origination` or `application_id`", "origination")
        if loan.application_id is None:
            assert loan.origination is not None  # OpenLoan holds one of them
            created, opened_at = await self.db(self.ledger.open, loan.loan_id, loan.origination.model_dump())
        else:
            origination, application = from_record(await self.db(self.records.application, loan.application_id))
            created, opened_at = await self.db(self.ledger.open, loan.loan_id, origination, application)
        return {"loan_id": loan.loan_id, "opened_at": opened_at, "created": created}

    async def submit(self, loan_id: str, body: object, request_id: str) -> dict[str, Any]:
        """The loan's update after one statement; a statement taken before is answered as it was then. Statements
        that arrive while others are being taken and scored go together in the next batch (one transaction, one
        Triton call), as the front's coalescer does for cache misses: no timer, so a lone statement waits for none."""
        (answer,) = await self.together.submit([(loan_id, body, request_id)])
        if isinstance(answer, FrontError):
            raise answer
        return answer

    async def _together(self, items: list[tuple[str, object, str]]) -> list[dict[str, Any] | FrontError]:
        return await self.submit_many([(loan_id, body) for loan_id, body, _ in items], [r for _, _, r in items])

    async def submit_many(
        self, items: Sequence[tuple[str, object]], request_ids: str | Sequence[str], where: str | None = None
    ) -> list[dict[str, Any] | FrontError]:
        """Statements of any loans, answered in order, each on its own (a refusal is that item's error): taken in one
        transaction, scored in one Triton call, written back in one transaction. With `where` (`statements`), bad
        input in any item is a 400 naming it (`statements[3].period`) before anything is taken; what depends on the
        store (an unknown loan, a conflict) stays that item's error."""
        ids = [request_ids] * len(items) if isinstance(request_ids, str) else list(request_ids)
        answers: list[dict[str, Any] | FrontError | None] = [None] * len(items)
        valid: list[tuple[int, str, NewStatement]] = []
        for i, (loan_id, body) in enumerate(items):
            try:
                valid.append((i, checked_loan_id(loan_id), new_statement(checked(StatementBody, body))))
            except InvalidArgument as error:
                if where is not None:
                    raise InvalidArgument(f"{where}[{i}].{error.message}", item_field(where, i, error.field)) from None
                answers[i] = error
        taken = await self.db(self.ledger.take_many, [(loan_id, s) for _, loan_id, s in valid]) if valid else []
        to_score: dict[str, Loan] = {}
        marks: Marks = {}
        for (i, loan_id, statement), outcome in zip(valid, taken, strict=True):
            if isinstance(outcome, FrontError):
                answers[i] = outcome
            elif outcome.answer is not None:
                answers[i] = json.loads(outcome.answer) | {"repeated": True}
            else:
                to_score[loan_id] = outcome.loan
                marks.setdefault((loan_id, statement.statement_id), Mark(outcome.out_of_order, ids[i]))
        fresh = await self._score(to_score, marks, ids[0]) if to_score else {}
        for (i, loan_id, statement), outcome in zip(valid, taken, strict=True):
            if answers[i] is not None:
                continue
            assert isinstance(outcome, Taken)
            body = fresh.get((loan_id, statement.statement_id))
            if body is None:  # the loan took other statements meanwhile: this one alone, computed again
                body = await self._again(loan_id, statement.statement_id, marks, ids[i])
            answers[i] = body | {"repeated": outcome.repeated}
        return answers  # type: ignore[return-value]

    async def _again(self, loan_id: str, statement_id: str, marks: Marks, request_id: str) -> dict[str, Any]:
        for _ in range(ATTEMPTS):
            loan = await self.db(self.ledger.loan, loan_id)
            stored = next(s for s in loan.statements if s.statement_id == statement_id)
            if stored.answer is not None:
                # Scored meanwhile by the request of another statement of the loan (it scores every unscored one),
                # at a revision that held this statement: every score this one changes is written already.
                return json.loads(stored.answer)
            body = (await self._score({loan_id: loan}, marks, request_id)).get((loan_id, statement_id))
            if body is not None:
                return body
        raise Unavailable(f"loan_id: {loan_id} took other statements while this one was scored; retry", "loan_id")

    async def _score(
        self, loans: dict[str, Loan], marks: Marks, request_id: str
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """Score every unscored statement of `loans`, and every later month, with the statements known up to each
        one's period, in one Triton call; write them back at the revisions read. The first answers of the loans
        written, by (loan, statement id); a loan that took another statement meanwhile is left out."""
        plans = {loan_id: Plan.of(loan, marks) for loan_id, loan in loans.items()}
        rows = [row for plan in plans.values() for row in plan.rows]
        answers = iter(await self.plane.answer_rows(PIPELINE, rows, request_id))
        outcomes = {
            loan_id: plan.outcome([next(answers) for _ in plan.rows], self.treatments)
            for loan_id, plan in plans.items()
        }
        saves = [Save(loan_id, loans[loan_id].revision, tuple(o.scored), o.latest) for loan_id, o in outcomes.items()]
        written = await self.db(self.ledger.save_many, saves)
        return {
            (save.loan_id, statement_id): body
            for save, ok in zip(saves, written, strict=True)
            if ok
            for statement_id, body in outcomes[save.loan_id].bodies.items()
        }

    async def loan(self, loan_id: str) -> dict[str, Any]:
        """The loan with every statement's current score and treatment, and where it stands now."""
        loan = await self.db(self.ledger.loan, checked_loan_id(loan_id))

        def treatment(s: StoredStatement) -> dict[str, str] | None:
            return None if s.probability is None else dataclasses.asdict(treated(self.treatments, s, s.probability))

        statements = [
            {
                "statement_id": s.statement_id,
                "period": s.period,
                "balance": s.balance,
                "paid": s.paid,
                "status": s.status,
                "message_intent": s.intent,
                "probability_of_default": s.probability,
                "treatment": treatment(s),
            }
            for s in loan.statements
        ]
        last = statements[-1] if statements else None
        return {
            "loan_id": loan.loan_id,
            "origination": loan.origination,
            "opened_at": loan.opened_at,
            "application": dataclasses.asdict(loan.application) if loan.application else None,
            "probability_of_default": last["probability_of_default"] if last else None,
            "band": last["treatment"]["band"] if last and last["treatment"] else None,
            "treatment": last["treatment"] if last else None,
            "statements": statements,
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
    loan_id: str, s: StoredStatement, answer: Answer, before: float, treatment: Treatment, out_of_order: bool
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

"""Loans and their statements in the shared database: what every front reads and writes, so that two replicas give
one loan the same score and a restart loses nothing.

A statement is taken (committed) before it is scored: once `take` returns, it is never lost, whatever happens
to Triton. Scores are written with the loan's revision they were computed at: `save` refuses them when another
statement arrived in between (the caller computes again), so the stored scores always equal a replay of the
statements in period order, whatever order they came in and however many fronts took them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from finfer.errors import Conflict, FrontError, NotFound
from finfer.models.behaviour.features import AGE_MAX, AGE_MIN
from finfer.store.database import now_iso
from finfer.store.schema import LOANS, STATEMENTS

log = logging.getLogger("finfer.loans")


@dataclass(frozen=True)
class NewStatement:
    statement_id: str
    period: str
    month: int
    balance: float
    paid: float
    status: int
    intent: str | None

    def values(self) -> tuple:
        return (self.period, self.balance, self.paid, self.status, self.intent)


@dataclass(frozen=True)
class StoredStatement(NewStatement):
    probability: float | None  # with every statement up to its period known; None until scored
    answer: str | None  # the first answer's JSON; None until scored


STORED = [f.name for f in dataclasses.fields(StoredStatement)]


# Built once: SQLAlchemy builds and keys a statement in about 100 µs, several times what SQLite takes to run it, and
# a statement taken and scored runs six of them (1.8 ms a statement built each time, here; 0.55 ms prebuilt).
_LOAN_ID = sa.bindparam("the_loan")
_LOANS = sa.bindparam("the_loans", expanding=True)
_LOCK_LOANS = sa.select(LOANS).where(LOANS.c.loan_id.in_(_LOANS)).order_by(LOANS.c.loan_id).with_for_update()
_READ_LOAN = sa.select(LOANS).where(LOANS.c.loan_id == _LOAN_ID)
_READ_STATEMENTS = (
    sa.select(*(STATEMENTS.c[name] for name in STORED))
    .where(STATEMENTS.c.loan_id == _LOAN_ID)
    .order_by(STATEMENTS.c.month)
)
_READ_STATEMENTS_OF = (
    sa.select(STATEMENTS.c.loan_id, *(STATEMENTS.c[name] for name in STORED))
    .where(STATEMENTS.c.loan_id.in_(_LOANS))
    .order_by(STATEMENTS.c.loan_id, STATEMENTS.c.month)
)
_INSERT_STATEMENT = STATEMENTS.insert()
_READ_OPENED = sa.select(LOANS.c.origination, LOANS.c.opened_at, LOANS.c.application_id).where(
    LOANS.c.loan_id == _LOAN_ID
)
_INSERTS = {"sqlite": sqlite_insert, "postgresql": postgresql_insert}
_NEW_REVISION = LOANS.update().where(LOANS.c.loan_id == _LOAN_ID).values(revision=sa.bindparam("new_revision"))
_LOCK_REVISIONS = (
    sa.select(LOANS.c.loan_id, LOANS.c.revision)
    .where(LOANS.c.loan_id.in_(_LOANS))
    .order_by(LOANS.c.loan_id)
    .with_for_update()
)
_SAVE_LATEST = (
    LOANS.update()
    .where(LOANS.c.loan_id == _LOAN_ID)
    .values(
        latest_period=sa.bindparam("latest_period"),
        probability=sa.bindparam("latest_probability"),
        band=sa.bindparam("latest_band"),
        action=sa.bindparam("latest_action"),
        updated_at=sa.bindparam("at"),
    )
)
_SAVE_LATEST_AT = _SAVE_LATEST.where(LOANS.c.revision == sa.bindparam("at_revision"))
_SAVE_SCORE = (
    STATEMENTS.update()
    .where(STATEMENTS.c.loan_id == _LOAN_ID, STATEMENTS.c.statement_id == sa.bindparam("scored_id"))
    .values(
        probability=sa.bindparam("scored_probability"),
        action=sa.bindparam("scored_action"),
        # Two fronts scoring one repeated statement at once: the first answer written stays.
        answer=sa.func.coalesce(STATEMENTS.c.answer, sa.bindparam("scored_answer", type_=sa.Text)),
    )
)


def _latest(save: Save, at: str) -> dict[str, Any]:
    return {
        "the_loan": save.loan_id,
        "at_revision": save.revision,
        "latest_period": save.latest.period,
        "latest_probability": save.latest.probability,
        "latest_band": save.latest.band,
        "latest_action": save.latest.action,
        "at": at,
    }


def _statements(connection: sa.Connection, loan_id: str) -> tuple[StoredStatement, ...]:
    return tuple(StoredStatement(*row) for row in connection.execute(_READ_STATEMENTS, {"the_loan": loan_id}))


@dataclass(frozen=True)
class FromApplication:
    """What a loan opened from a recorded application keeps of it."""

    application_id: str
    score: float | None  # the risk branch's probability of default at origination
    credit_file: dict[str, Any]


@dataclass(frozen=True)
class Loan:
    loan_id: str
    origination: dict[str, Any]
    opened_at: str
    revision: int
    statements: tuple[StoredStatement, ...]  # in period order
    application: FromApplication | None = None


@dataclass(frozen=True)
class Taken:
    """A statement as `take` left it: new, or the same statement taken before (with its first answer, if any)."""

    loan: Loan
    repeated: bool
    answer: str | None
    out_of_order: bool  # a later month was taken before it


@dataclass(frozen=True)
class Scored:
    """One statement's score with every statement up to its period known."""

    statement_id: str
    probability: float
    action: str
    answer: str | None  # the first answer's JSON, for a statement scored for the first time


@dataclass(frozen=True)
class Latest:
    """The loan's state after its latest statement: what the early-warning queue reads."""

    period: str
    probability: float
    band: str
    action: str


@dataclass(frozen=True)
class Save:
    """One loan's scores, computed at `revision`."""

    loan_id: str
    revision: int
    scored: tuple[Scored, ...]
    latest: Latest


def _check(known: Sequence[StoredStatement], statement: NewStatement) -> StoredStatement | FrontError | None:
    """The same statement taken before, a Conflict with one, or None: a new statement."""
    for k in known:
        if k.statement_id == statement.statement_id:
            if statement.values() != k.values():
                message = f"statement_id: {statement.statement_id} was taken for {k.period} with other values"
                return Conflict(message, "statement_id")
            return k
        if k.period == statement.period:
            return Conflict(f"period: {statement.period} already has the statement {k.statement_id}", "period")
    return None


def _canonical(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def open_in(
    connection: sa.Connection, loan_id: str, origination: dict[str, Any], application: FromApplication | None = None
) -> tuple[bool, str]:
    """Open a loan inside the caller's transaction; the same origination again changes nothing, other fields are a
    Conflict. Returns (created, opened_at)."""
    body = _canonical(origination)
    started = {}
    if application is not None:
        started = {
            "application_id": application.application_id,
            "origination_score": application.score,
            "credit_file": _canonical(application.credit_file),
        }
    found = connection.execute(_READ_OPENED, {"the_loan": loan_id}).first()
    if found is None:
        at = now_iso()
        # Not an IntegrityError when another front opens it at the same moment: on PostgreSQL that would abort the
        # caller's transaction (an application's record is written in it).
        insert = _INSERTS[connection.dialect.name](LOANS).on_conflict_do_nothing(index_elements=["loan_id"])
        values = {"loan_id": loan_id, "origination": body, "opened_at": at, "revision": 0, **started}
        # RETURNING says whether it was inserted (psycopg's rowcount is -1 for ON CONFLICT).
        if connection.execute(insert.values(**values).returning(LOANS.c.loan_id)).first() is not None:
            return True, at
        found = connection.execute(_READ_OPENED, {"the_loan": loan_id}).one()
    if found.origination != body or (application is not None and found.application_id != application.application_id):
        raise Conflict(f"loan_id: {loan_id} is already open with other origination fields", "loan_id")
    return False, found.opened_at


# The credit file's fields a loan's origination is read from, by the names lenders' files use.
AGE_FIELDS = ("age", "age_in_years")
AMOUNT_FIELDS = ("credit_amount", "loan_amount", "amount")
NO_ORIGINATION = f"credit file names no age ({AGE_MIN} to {AGE_MAX}) or amount"


def from_decision(application_id: str, decision: dict[str, Any]) -> tuple[dict[str, Any], FromApplication] | None:
    """A loan's origination fields, and what it keeps of its application, from the application's decision record
    (store/application_record.py): the declared amount as the limit (else the credit file's amount) and the
    credit file's age; education is unknown. None when the credit file names no age or amount."""
    credit_file, declared = decision["credit_file"], decision.get("declared") or {}
    age = next((credit_file[f] for f in AGE_FIELDS if isinstance(credit_file.get(f), int | float)), None)
    limit = declared.get("amount") or next(
        (credit_file[f] for f in AMOUNT_FIELDS if isinstance(credit_file.get(f), int | float)), None
    )
    if age is None or not AGE_MIN <= age <= AGE_MAX or not limit or limit < 0:
        return None
    risk = (decision.get("results") or {}).get("risk") or {}
    origination = {"limit": float(limit), "age": int(age), "education": 0}
    return origination, FromApplication(application_id, risk.get("probability_of_default"), credit_file)


def open_for_decision(connection: sa.Connection, loan_id: str, application_id: str, decision: dict[str, Any]) -> dict:
    """Open the loan an approved application asked for, inside the transaction that records the approval; what
    happened, as the record keeps it. Never raises for the loan's own reasons: the approval is recorded anyway."""
    opened = from_decision(application_id, decision)
    if opened is None:
        return {"loan_id": loan_id, "opened": False, "why": f"the {NO_ORIGINATION}"}
    try:
        created, at = open_in(connection, loan_id, *opened)
    except Conflict as refused:
        log.warning("loan %s not opened for application %s: %s", loan_id, application_id, refused.message)
        return {"loan_id": loan_id, "opened": False, "why": refused.message}
    return {"loan_id": loan_id, "opened": True, "created": created, "opened_at": at}


class Ledger:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        # SQLite has one writer at a time, and a writer that finds the file locked sleeps in steps of up to 100 ms:
        # this process's writers take turns on a lock instead (p95 of 32 clients: 250 ms before it).
        self._writer = threading.Lock() if engine.dialect.name == "sqlite" else None

    def _writing(self) -> contextlib.AbstractContextManager:
        return self._writer if self._writer is not None else contextlib.nullcontext()

    def open(
        self, loan_id: str, origination: dict[str, Any], application: FromApplication | None = None
    ) -> tuple[bool, str]:
        """Open a loan; the same origination again changes nothing. Returns (created, opened_at)."""
        with self._writing(), self.engine.begin() as connection:
            return open_in(connection, loan_id, origination, application)

    def take(self, loan_id: str, statement: NewStatement) -> Taken:
        """Commit one statement, or recognise it as taken before; either way the loan as it now stands."""
        (taken,) = self.take_many([(loan_id, statement)])
        if isinstance(taken, FrontError):
            raise taken
        return taken

    def take_many(self, items: Sequence[tuple[str, NewStatement]]) -> list[Taken | FrontError]:
        """Commit statements of any loans in one transaction, each one recognised as taken before or refused on its
        own: an unknown loan (NotFound), a statement id reused with other values or a second statement for a period
        (Conflict). Each Taken holds its loan as the whole batch leaves it."""
        loan_ids = sorted({loan_id for loan_id, _ in items})
        with self._writing(), self.engine.begin() as connection:
            # Locked in one order, so two fronts taking batches of the same loans never deadlock.
            rows = {row.loan_id: row for row in connection.execute(_LOCK_LOANS, {"the_loans": loan_ids})}
            known: dict[str, list[StoredStatement]] = {loan_id: [] for loan_id in rows}
            for row in connection.execute(_READ_STATEMENTS_OF, {"the_loans": list(rows)}):
                known[row.loan_id].append(StoredStatement(*row[1:]))
            revision = {loan_id: row.revision for loan_id, row in rows.items()}
            outcomes: list[tuple[str, bool, str | None, bool] | FrontError] = []
            inserts = []
            for loan_id, statement in items:
                if loan_id not in rows:
                    outcomes.append(
                        NotFound(f"loan_id: {loan_id} is not a known loan; open it first (POST /v1/loans)", "loan_id")
                    )
                    continue
                found = _check(known[loan_id], statement)
                if isinstance(found, FrontError):
                    outcomes.append(found)
                elif found is not None:
                    outcomes.append((loan_id, True, found.answer, False))
                else:
                    later = any(k.month > statement.month for k in known[loan_id])
                    known[loan_id].append(StoredStatement(**vars(statement), probability=None, answer=None))
                    revision[loan_id] += 1
                    inserts.append({"loan_id": loan_id, "received_at": now_iso(), **vars(statement)})
                    outcomes.append((loan_id, False, None, later))
            if inserts:
                connection.execute(_INSERT_STATEMENT, inserts)
                changed = {i["loan_id"] for i in inserts}
                connection.execute(
                    _NEW_REVISION, [{"the_loan": loan_id, "new_revision": revision[loan_id]} for loan_id in changed]
                )
        loans = {
            loan_id: Loan(
                loan_id,
                json.loads(row.origination),
                row.opened_at,
                revision[loan_id],
                tuple(sorted(known[loan_id], key=lambda s: s.month)),
            )
            for loan_id, row in rows.items()
        }
        return [
            outcome if isinstance(outcome, FrontError) else Taken(loans[outcome[0]], *outcome[1:])
            for outcome in outcomes
        ]

    def loan(self, loan_id: str) -> Loan:
        with self.engine.connect() as connection:
            row = connection.execute(_READ_LOAN, {"the_loan": loan_id}).first()
            if row is None:
                raise NotFound(f"loan_id: {loan_id} is not a known loan", "loan_id")
            statements = _statements(connection, loan_id)
        application = None
        if row.application_id is not None:
            application = FromApplication(row.application_id, row.origination_score, json.loads(row.credit_file))
        return Loan(row.loan_id, json.loads(row.origination), row.opened_at, row.revision, statements, application)

    def save(self, loan_id: str, revision: int, scored: Sequence[Scored], latest: Latest) -> bool:
        """Write scores computed at `revision`; False (nothing written) when a statement was taken since."""
        return self.save_many([Save(loan_id, revision, tuple(scored), latest)])[0]

    def save_many(self, saves: Sequence[Save]) -> list[bool]:
        """Each loan's scores in one transaction, each written only at the revision it was computed at. The
        statements run are as few whatever the number of loans (a round trip each on PostgreSQL, where one a loan
        cost most of a coalesced batch's time): the loans' rows locked and their revisions read, every current
        loan's latest state, every score. A lone loan's update checks its revision itself, one statement fewer."""
        at = now_iso()
        with self._writing(), self.engine.begin() as connection:
            if len(saves) == 1:
                (save,) = saves
                written = connection.execute(_SAVE_LATEST_AT, _latest(save, at)).rowcount == 1
                current = [save] if written else []
            else:
                # Locked: it is what `take` locks, so the check and the writes are one step for each loan.
                loan_ids = sorted({save.loan_id for save in saves})
                revisions = dict(connection.execute(_LOCK_REVISIONS, {"the_loans": loan_ids}).tuples().all())
                current = [save for save in saves if revisions.get(save.loan_id) == save.revision]
                if current:
                    connection.execute(_SAVE_LATEST, [_latest(save, at) for save in current])
            scores = [
                {
                    "the_loan": save.loan_id,
                    "scored_id": s.statement_id,
                    "scored_probability": s.probability,
                    "scored_action": s.action,
                    "scored_answer": s.answer,
                }
                for save in current
                for s in save.scored
            ]
            if scores:
                connection.execute(_SAVE_SCORE, scores)
        saved = {save.loan_id for save in current}
        return [save.loan_id in saved for save in saves]

    def in_bands(self, bands: Sequence[str], page: int, page_size: int) -> tuple[list[dict[str, Any]], int]:
        """Loans whose latest score is in one of `bands`, the most recently updated first."""
        where = LOANS.c.band.in_(list(bands))
        with self.engine.connect() as connection:
            total = connection.execute(sa.select(sa.func.count()).select_from(LOANS).where(where)).scalar() or 0
            rows = connection.execute(
                sa.select(
                    LOANS.c.loan_id,
                    LOANS.c.latest_period,
                    LOANS.c.probability,
                    LOANS.c.band,
                    LOANS.c.action,
                    LOANS.c.updated_at,
                )
                .where(where)
                .order_by(LOANS.c.updated_at.desc(), LOANS.c.loan_id)
                .limit(page_size)
                .offset((page - 1) * page_size)
            ).all()
        return [{str(k): v for k, v in r._mapping.items()} for r in rows], total

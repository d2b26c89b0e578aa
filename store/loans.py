"""Loans and their statements in the shared database: what every front reads and writes, so that two replicas give
one loan the same score and a restart loses nothing.

A statement is taken (committed) before it is scored: once `take` returns, it is never lost, whatever happens
to Triton. Scores are written with the loan's revision they were computed at: `save` refuses them when another
statement arrived in between (the caller computes again), so the stored scores always equal a replay of the
statements in period order, whatever order they came in and however many fronts took them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from finfer.errors import Conflict, InvalidArgument, NotFound
from finfer.store.decisions import now_iso
from finfer.store.schema import LOANS, STATEMENTS


@dataclass(frozen=True)
class StoredStatement:
    statement_id: str
    period: str
    month: int
    balance: float
    paid: float
    status: int
    intent: str | None
    probability: float | None
    answer: str | None  # the first answer's JSON; None until scored


@dataclass(frozen=True)
class Loan:
    loan_id: str
    origination: dict[str, Any]
    opened_at: str
    revision: int
    statements: tuple[StoredStatement, ...]  # in period order


@dataclass(frozen=True)
class Taken:
    """A statement as `take` left it: new, or the same statement taken before (with its first answer, if any)."""

    revision: int
    repeated: bool
    answer: str | None


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


def _canonical(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class Ledger:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def open(self, loan_id: str, origination: dict[str, Any]) -> tuple[bool, str]:
        """Open a loan; the same origination again changes nothing. Returns (created, opened_at)."""
        body = _canonical(origination)
        with self.engine.begin() as connection:
            found = connection.execute(
                sa.select(LOANS.c.origination, LOANS.c.opened_at).where(LOANS.c.loan_id == loan_id)
            ).first()
            if found is not None:
                if found.origination != body:
                    raise Conflict(f"loan_id: {loan_id} is already open with other origination fields", "loan_id")
                return False, found.opened_at
            at = now_iso()
            try:
                connection.execute(LOANS.insert().values(loan_id=loan_id, origination=body, opened_at=at, revision=0))
            except sa.exc.IntegrityError:
                # Another front opened it a moment before: the same rules as finding it.
                raise Conflict(f"loan_id: {loan_id} was opened at the same time; retry", "loan_id") from None
            return True, at

    def _locked(self, connection: sa.Connection, loan_id: str) -> sa.Row:
        """The loan's row, locked for the transaction (PostgreSQL; SQLite's BEGIN IMMEDIATE locks the file)."""
        row = connection.execute(sa.select(LOANS).where(LOANS.c.loan_id == loan_id).with_for_update()).first()
        if row is None:
            raise InvalidArgument(f"loan_id: {loan_id} is not a known loan; open it first (POST /v1/loans)", "loan_id")
        return row

    def take(
        self,
        loan_id: str,
        statement_id: str,
        period: str,
        month: int,
        balance: float,
        paid: float,
        status: int,
        intent: str | None,
    ) -> Taken:
        """Commit one statement, or recognise it as taken before. A statement id reused with other values, or a
        second statement for a period, is a Conflict."""
        values = {"period": period, "balance": balance, "paid": paid, "status": status, "intent": intent}
        with self.engine.begin() as connection:
            loan = self._locked(connection, loan_id)
            known = connection.execute(
                sa.select(STATEMENTS).where(STATEMENTS.c.loan_id == loan_id, STATEMENTS.c.statement_id == statement_id)
            ).first()
            if known is not None:
                if {k: getattr(known, k) for k in values} != values:
                    raise Conflict(
                        f"statement_id: {statement_id} was taken for {known.period} with other values", "statement_id"
                    )
                return Taken(loan.revision, True, known.answer)
            other = connection.execute(
                sa.select(STATEMENTS.c.statement_id).where(
                    STATEMENTS.c.loan_id == loan_id, STATEMENTS.c.period == period
                )
            ).scalar()
            if other is not None:
                raise Conflict(f"period: {period} already has the statement {other}", "period")
            connection.execute(
                STATEMENTS.insert().values(
                    loan_id=loan_id, statement_id=statement_id, month=month, received_at=now_iso(), **values
                )
            )
            revision = loan.revision + 1
            connection.execute(LOANS.update().where(LOANS.c.loan_id == loan_id).values(revision=revision))
            return Taken(revision, False, None)

    def loan(self, loan_id: str) -> Loan:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(LOANS).where(LOANS.c.loan_id == loan_id)).first()
            if row is None:
                raise NotFound(f"loan_id: {loan_id} is not a known loan", "loan_id")
            statements = connection.execute(
                sa.select(STATEMENTS).where(STATEMENTS.c.loan_id == loan_id).order_by(STATEMENTS.c.month)
            ).all()
        return Loan(
            loan_id=row.loan_id,
            origination=json.loads(row.origination),
            opened_at=row.opened_at,
            revision=row.revision,
            statements=tuple(
                StoredStatement(
                    statement_id=s.statement_id,
                    period=s.period,
                    month=s.month,
                    balance=s.balance,
                    paid=s.paid,
                    status=s.status,
                    intent=s.intent,
                    probability=s.probability,
                    answer=s.answer,
                )
                for s in statements
            ),
        )

    def save(self, loan_id: str, revision: int, scored: Sequence[Scored], latest: Latest | None) -> bool:
        """Write scores computed at `revision`; False (nothing written) when a statement was taken since."""
        with self.engine.begin() as connection:
            if self._locked(connection, loan_id).revision != revision:
                return False
            for s in scored:
                values: dict[str, Any] = {"probability": s.probability, "action": s.action}
                if s.answer is not None:
                    # Two fronts scoring one repeated statement at once: the first answer written stays.
                    values["answer"] = sa.func.coalesce(STATEMENTS.c.answer, s.answer)
                connection.execute(
                    STATEMENTS.update()
                    .where(STATEMENTS.c.loan_id == loan_id, STATEMENTS.c.statement_id == s.statement_id)
                    .values(**values)
                )
            if latest is not None:
                connection.execute(
                    LOANS.update()
                    .where(LOANS.c.loan_id == loan_id)
                    .values(
                        latest_period=latest.period,
                        probability=latest.probability,
                        band=latest.band,
                        action=latest.action,
                        updated_at=now_iso(),
                    )
                )
            return True

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

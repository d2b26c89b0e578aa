"""The decision store: append records to the audit chain, keep the review queue, read both back.

Every change is one transaction that first locks the chain's head, so appends from several fronts on one
PostgreSQL take turns and each record names the one before it. Records are never updated or deleted; the
`cases` table is the queue's current state, derived from them in the same transaction.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import sqlalchemy as sa

from finfer.errors import Conflict, NotFound
from finfer.store import audit
from finfer.store.database import now_iso, row_dict
from finfer.store.loans import open_for_decision
from finfer.store.schema import CASES, CHAIN_HEAD, RECORDS

CaseStatus = Literal["open", "claimed", "resolved"]
Outcome = Literal["approve", "decline"]


_ID_PREFIX = os.urandom(10).hex()
_ID_COUNTER = itertools.count()


@dataclass(frozen=True)
class Entry:
    """A record before it is chained: what the spool keeps while the database is away."""

    record_id: str
    kind: str  # decision | claim | review
    application_id: str
    at: str
    body: dict[str, Any]

    @classmethod
    def new(cls, kind: str, application_id: str, body: dict[str, Any]) -> Entry:
        # A random prefix a process and a counter: unique across fronts, and no syscall a record (uuid4 reads
        # the kernel's entropy every time, which showed in profiles under load).
        return cls(f"{_ID_PREFIX}{next(_ID_COUNTER):012x}", kind, application_id, now_iso(), body)

    def to_json(self) -> bytes:
        return orjson.dumps(self.__dict__)

    @classmethod
    def from_json(cls, line: bytes) -> Entry:
        return cls(**orjson.loads(line))


def _case(row: sa.Row) -> dict[str, Any]:
    out = {k: v for k, v in row_dict(row).items() if k not in ("open_key", "reason_codes", "decision_seq")}
    out["reasons"] = [code for code in row.reason_codes.split(",") if code]
    return out


_LOCK_HEAD = sa.select(CHAIN_HEAD.c.seq, CHAIN_HEAD.c.digest).where(CHAIN_HEAD.c.id == 1).with_for_update()
_MOVE_HEAD = (
    CHAIN_HEAD.update()
    .where(CHAIN_HEAD.c.id == 1)
    .values(seq=sa.bindparam("head_seq"), digest=sa.bindparam("head_digest"))
)
_INSERT_RECORD = RECORDS.insert()
_OPEN_CASE = CASES.insert()
_RECORD_BODY = sa.select(RECORDS.c.body).where(RECORDS.c.seq == sa.bindparam("seq"))
_UNRESOLVED_CASE = sa.select(CASES.c.case_id).where(CASES.c.open_key == sa.bindparam("key"))


def _opening_its_loan(connection: sa.Connection, entry: Entry) -> Entry:
    """An approved application that names a `loan_id` opens that loan in the transaction that records the
    approval, and the record says what happened: the loan exists exactly when the approval is on record (from the
    spool too, once it drains)."""
    body = entry.body
    if entry.kind != "decision" or body.get("decision") != "approve" or not body.get("loan_id"):
        return entry
    loan = open_for_decision(connection, body["loan_id"], entry.application_id, body)
    return dataclasses.replace(entry, body={**body, "loan": loan})


class DecisionStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._writer: sa.Connection | None = None  # append's own connection: no pool checkout (or ping) a batch

    # Writing ----------------------------------------------------------------------------------------------

    def append(self, entries: Sequence[Entry], from_spool: bool = False) -> int:
        """Chain `entries` in order, opening a review case for each decision in the review band. Entries from
        the spool that are already stored (a drain cut short after its commit) are skipped. Returns how many
        were added."""
        if not entries:
            return 0
        if self._writer is None or self._writer.invalidated or self._writer.closed:
            self._writer = self.engine.connect()
        try:
            with self._writer.begin():
                return self._append(self._writer, entries, from_spool)
        except sa.exc.DBAPIError:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                self._writer.invalidate()  # a dead connection is not reused: the next batch connects again
            self._writer = None
            raise

    def close(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                self._writer.close()
            self._writer = None

    def _append(self, connection: sa.Connection, entries: Sequence[Entry], from_spool: bool) -> int:
        head = self._lock_head(connection)
        if from_spool:
            ids = [e.record_id for e in entries]
            stored = set(connection.scalars(sa.select(RECORDS.c.record_id).where(RECORDS.c.record_id.in_(ids))))
            entries = [e for e in entries if e.record_id not in stored]
        entries = [_opening_its_loan(connection, e) for e in entries]
        rows = self._chain(connection, head, entries)
        for entry, row in zip(entries, rows, strict=True):
            if entry.kind == "decision" and entry.body.get("decision") == "review":
                self._open_case(connection, row["seq"], entry)
        return len(rows)

    def _lock_head(self, connection: sa.Connection) -> tuple[int, str]:
        seq, digest = connection.execute(_LOCK_HEAD).one()
        return seq, digest

    def _chain(
        self, connection: sa.Connection, head: tuple[int, str], entries: Sequence[Entry], case_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Write `entries` after the locked `head`, each naming the one before, and move the head: the only place
        records are written. Statements are module constants: building one per record cost more than writing it."""
        seq, prev = head
        rows = []
        for entry in entries:
            seq += 1
            body = audit.canonical(entry.body)
            digest = audit.link_digest(seq, prev, entry.kind, entry.application_id, entry.at, body)
            rows.append(
                {
                    "seq": seq,
                    "record_id": entry.record_id,
                    "kind": entry.kind,
                    "application_id": entry.application_id,
                    "case_id": case_id,
                    "at": entry.at,
                    "body": body,
                    "prev": prev,
                    "digest": digest,
                }
            )
            prev = digest
        if rows:
            connection.execute(_INSERT_RECORD, rows)
            connection.execute(_MOVE_HEAD, {"head_seq": seq, "head_digest": prev})
        return rows

    def _open_case(self, connection: sa.Connection, seq: int, entry: Entry) -> None:
        codes = ",".join(r["code"] for r in entry.body.get("reasons", []))
        unresolved = connection.execute(_UNRESOLVED_CASE, {"key": entry.application_id}).scalar()
        if unresolved is not None:
            # Evaluated again while a case is pending: the reviewer sees the latest decision.
            values = {"decision_seq": seq, "reason_codes": f",{codes},"}
            connection.execute(CASES.update().where(CASES.c.case_id == unresolved).values(**values))
            return
        connection.execute(
            _OPEN_CASE,
            {
                "application_id": entry.application_id,
                "decision_seq": seq,
                "opened_at": entry.at,
                "reason_codes": f",{codes},",
                "status": "open",
                "open_key": entry.application_id,
            },
        )

    def claim(self, case_id: int, reviewer: str) -> dict[str, Any]:
        """Hand `case_id` to `reviewer`; claiming one's own case again is a no-op, another's is refused."""

        def allowed(case: sa.Row) -> bool:
            if case.status == "resolved":
                raise Conflict(f"case_id: case {case_id} is already resolved", "case_id")
            if case.status == "claimed" and case.claimed_by != reviewer:
                raise Conflict(f"case_id: case {case_id} is claimed by {case.claimed_by}", "case_id")
            return case.status == "open"  # already the reviewer's: nothing to record

        changes = lambda at: {"status": "claimed", "claimed_by": reviewer, "claimed_at": at}  # noqa: E731
        return self._step(case_id, allowed, "claim", {"by": reviewer}, changes)

    def resolve(self, case_id: int, reviewer: str, outcome: Outcome, note: str) -> dict[str, Any]:
        """Close a case its reviewer claimed with `outcome`; a review record says who, when and why."""

        def allowed(case: sa.Row) -> bool:
            if case.status == "resolved":
                raise Conflict(f"case_id: case {case_id} is already resolved ({case.outcome})", "case_id")
            if case.status != "claimed":
                raise Conflict(f"case_id: case {case_id} must be claimed before it is resolved", "case_id")
            if case.claimed_by != reviewer:
                raise Conflict(f"case_id: case {case_id} is claimed by {case.claimed_by}", "case_id")
            return True

        def changes(at: str) -> dict[str, Any]:
            return {
                "status": "resolved",
                "resolved_by": reviewer,
                "resolved_at": at,
                "outcome": outcome,
                "open_key": None,
            }

        def loan(connection: sa.Connection, case: sa.Row) -> dict[str, Any]:
            """An approved application opens the loan it asked for, with the review's record."""
            if outcome != "approve":
                return {}
            decision = orjson.loads(connection.execute(_RECORD_BODY, {"seq": case.decision_seq}).scalar_one())
            if not decision.get("loan_id"):
                return {}
            return {"loan": open_for_decision(connection, decision["loan_id"], case.application_id, decision)}

        body = {"by": reviewer, "outcome": outcome, "note": note}
        return self._step(case_id, allowed, "review", body, changes, loan)

    def _step(
        self,
        case_id: int,
        allowed: Callable[[sa.Row], bool],
        kind: str,
        body: dict[str, Any],
        changes: Callable[[str], dict[str, Any]],
        more: Callable[[sa.Connection, sa.Row], dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """One reviewer's step on a case, under the chain's lock: `allowed` refuses (Conflict) or says whether
        there is anything to record; the record (with what `more` adds to it) and the case's new state are written
        together."""
        with self.engine.begin() as connection:
            head = self._lock_head(connection)
            case = self._case_row(connection, case_id)
            if not allowed(case):
                return _case(case)
            extra = more(connection, case) if more is not None else {}
            entry = Entry.new(kind, case.application_id, {"case_id": case_id, **body, **extra})
            self._chain(connection, head, [entry], case_id)
            connection.execute(CASES.update().where(CASES.c.case_id == case_id).values(**changes(entry.at)))
            return _case(self._case_row(connection, case_id))

    def _case_row(self, connection: sa.Connection, case_id: int) -> sa.Row:
        case = connection.execute(sa.select(CASES).where(CASES.c.case_id == case_id)).one_or_none()
        if case is None:
            raise NotFound(f"case_id: no case {case_id}", "case_id")
        return case

    # Reading ----------------------------------------------------------------------------------------------

    def cases(
        self,
        status: CaseStatus = "open",
        reason: str | None = None,
        page: int = 1,
        page_size: int = 20,
        claimed_by: str | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of cases in `status` (and claimed by `claimed_by`), oldest first, and how many there are."""
        where = [CASES.c.status == status]
        if reason:
            where.append(CASES.c.reason_codes.contains(f",{reason},", autoescape=True))
        if claimed_by is not None:
            where.append(CASES.c.claimed_by == claimed_by)
        with self.engine.connect() as connection:
            total = connection.execute(sa.select(sa.func.count()).select_from(CASES).where(*where)).scalar() or 0
            rows = connection.execute(
                sa.select(CASES)
                .where(*where)
                .order_by(CASES.c.opened_at, CASES.c.case_id)
                .limit(page_size)
                .offset((page - 1) * page_size)
            ).all()
        return [_case(row) for row in rows], total

    def case(self, case_id: int) -> dict[str, Any]:
        """A case with the decision it reviews and its trail."""
        with self.engine.connect() as connection:
            row = self._case_row(connection, case_id)
            decision = connection.execute(sa.select(RECORDS.c.body).where(RECORDS.c.seq == row.decision_seq)).scalar()
            return {
                **_case(row),
                "decision": orjson.loads(decision),
                "trail": self._trail(connection, row.application_id)[0],
            }

    def application(self, application_id: str) -> dict[str, Any]:
        """The latest decision on an application, its case (if any) and its whole trail."""
        with self.engine.connect() as connection:
            decision = connection.execute(
                sa.select(RECORDS.c.body)
                .where(RECORDS.c.application_id == application_id, RECORDS.c.kind == "decision")
                .order_by(RECORDS.c.seq.desc())
                .limit(1)
            ).scalar()
            if decision is None:
                raise NotFound(f"application_id: no decision on record for {application_id}", "application_id")
            case = connection.execute(
                sa.select(CASES).where(CASES.c.application_id == application_id).order_by(CASES.c.case_id.desc())
            ).first()
            body = orjson.loads(decision)
            final = case.outcome if case is not None and case.outcome else body["decision"]
            trail, loans = self._trail(connection, application_id)
            return {
                "application_id": application_id,
                "final_decision": final,
                "decision": body,
                "case": _case(case) if case is not None else None,
                "trail": trail,
                "loan": loans[-1] if loans else None,
            }

    def _trail(
        self, connection: sa.Connection, application_id: str
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The application's steps, and the loans its approvals opened (or did not), in order."""
        rows = connection.execute(
            sa.select(RECORDS.c.seq, RECORDS.c.kind, RECORDS.c.at, RECORDS.c.body)
            .where(RECORDS.c.application_id == application_id)
            .order_by(RECORDS.c.seq)
        ).all()
        trail, loans = [], []
        for row in rows:
            body = orjson.loads(row.body)
            if "loan" in body:
                loans.append(body["loan"])
            step = {"seq": row.seq, "kind": row.kind, "at": row.at}
            step["by"] = body.get("by", "finfer")
            step["what"] = body.get("outcome") or body.get("decision") or row.kind
            trail.append(step)
        return trail, loans

    def links(self, chunk: int = 1000) -> Iterator[audit.Link]:
        """Every record in seq order, as the chain check reads them (a chunk at a time)."""
        after = 0
        with self.engine.connect() as connection:
            while True:
                rows = connection.execute(
                    sa.select(RECORDS).where(RECORDS.c.seq > after).order_by(RECORDS.c.seq).limit(chunk)
                ).all()
                if not rows:
                    return
                for row in rows:
                    yield audit.Link(row.seq, row.kind, row.application_id, row.at, row.body, row.prev, row.digest)
                after = rows[-1].seq

    def head(self) -> tuple[int, str]:
        with self.engine.connect() as connection:
            seq, digest = connection.execute(sa.select(CHAIN_HEAD.c.seq, CHAIN_HEAD.c.digest)).one()
            return seq, digest

    def verify(self) -> tuple[int, audit.Break | None]:
        return audit.first_break(self.links(), self.head())

    def reviewed_since(self, since: str) -> Iterator[tuple[dict[str, Any], str, str]]:
        """(decision record, reviewer's outcome, resolved at) of every case resolved at or after `since`."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(RECORDS.c.body, CASES.c.outcome, CASES.c.resolved_at)
                .join(RECORDS, RECORDS.c.seq == CASES.c.decision_seq)
                .where(CASES.c.status == "resolved", CASES.c.resolved_at >= since)
                .order_by(CASES.c.resolved_at)
            ).all()
        for row in rows:
            yield orjson.loads(row.body), row.outcome, row.resolved_at

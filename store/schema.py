"""The database's tables and the versioned migrations that create them, run at start.

A migration is a function of one connection, applied in its own transaction; `schema_version` says
which ran. Never edit a released migration: add the next one.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

METADATA = sa.MetaData()

SCHEMA_VERSION = sa.Table("schema_version", METADATA, sa.Column("version", sa.Integer, nullable=False))

# The audit trail: append-only. `digest` = sha256(seq, prev, kind, body): a changed, removed or swapped
# record breaks the chain at the first one touched (store/audit.py).
RECORDS = sa.Table(
    "records",
    METADATA,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("record_id", sa.String(32), nullable=False, unique=True),  # a retried spool drain adds nothing
    sa.Column("kind", sa.String(16), nullable=False),  # decision | claim | review
    sa.Column("application_id", sa.String(64), nullable=False, index=True),
    sa.Column("case_id", sa.BigInteger, nullable=True),
    sa.Column("at", sa.String(32), nullable=False),  # ISO 8601 UTC: sorts as text on both databases
    sa.Column("body", sa.Text, nullable=False),  # canonical JSON
    sa.Column("prev", sa.String(64), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
)

# One row: the last record's seq and digest. Appenders lock it, so replicas sharing PostgreSQL chain in turn,
# and a removed last record is still noticed.
CHAIN_HEAD = sa.Table(
    "chain_head",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
)

# The review queue: the state of each case, derived from the records (which stay the truth).
CASES = sa.Table(
    "cases",
    METADATA,
    # SQLite numbers rows itself only for an INTEGER primary key (its 64-bit rowid).
    sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("application_id", sa.String(64), nullable=False, index=True),
    sa.Column("decision_seq", sa.BigInteger, nullable=False),
    sa.Column("opened_at", sa.String(32), nullable=False, index=True),
    sa.Column("reason_codes", sa.Text, nullable=False),  # ",CODE,CODE," for the reason filter
    sa.Column("status", sa.String(16), nullable=False),  # open | claimed | resolved
    sa.Column("claimed_by", sa.String(64)),
    sa.Column("claimed_at", sa.String(32)),
    sa.Column("resolved_by", sa.String(64)),
    sa.Column("resolved_at", sa.String(32)),
    sa.Column("outcome", sa.String(16)),
    # The application id while the case is unresolved, NULL after: at most one unresolved case an application
    # (NULLs never collide in a unique index, on either database).
    sa.Column("open_key", sa.String(64), unique=True),
)

API_KEYS = sa.Table(
    "api_keys",
    METADATA,
    sa.Column("key_id", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("secret_sha256", sa.String(64), nullable=False),
    sa.Column("scopes", sa.Text, nullable=False),  # space-separated
    sa.Column("rate_per_s", sa.Float),  # NULL: no limit
    sa.Column("burst", sa.Integer),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("revoked_at", sa.String(32)),
)

# Each pipeline's traffic split between its versions, shared by every front (front/split_sync.py). `revision`
# is new at every change: a front applies a row whose revision is not the one it applied last.
SPLITS = sa.Table(
    "splits",
    METADATA,
    sa.Column("pipeline", sa.String(64), primary_key=True),
    sa.Column("split", sa.Text, nullable=False),  # the Split's JSON: weights, shadow
    sa.Column("revision", sa.String(32), nullable=False),
    sa.Column("changed_at", sa.String(32), nullable=False),
    sa.Column("cause", sa.Text, nullable=False),  # JSON: {"kind": "put"} or {"kind": "rollback", "version", "reason"}
)

# Loans in servicing (loans/): each one's origination and its latest state, what the early-warning queue lists.
# `revision` rises with every statement taken, so that scores computed before another statement arrived are
# never written over the ones computed after it (store/loans.py).
LOANS = sa.Table(
    "loans",
    METADATA,
    sa.Column("loan_id", sa.String(64), primary_key=True),
    sa.Column("origination", sa.Text, nullable=False),  # canonical JSON of the origination fields
    sa.Column("opened_at", sa.String(32), nullable=False),
    # Opened from a recorded application: its id, its risk score and its credit file (JSON) as the first state.
    sa.Column("application_id", sa.String(64)),
    sa.Column("origination_score", sa.Float),
    sa.Column("credit_file", sa.Text),
    sa.Column("revision", sa.BigInteger, nullable=False),
    sa.Column("latest_period", sa.String(7)),
    sa.Column("probability", sa.Float),  # after the latest statement
    sa.Column("band", sa.String(32)),
    sa.Column("action", sa.String(32)),
    sa.Column("updated_at", sa.String(32)),
    sa.Index("loans_band_updated", "band", "updated_at"),
)

# A loan's statements, one a period. `answer` is the JSON its first scoring answered, kept so that a repeat of
# the statement is answered with it; `probability` is its score with every statement now known.
STATEMENTS = sa.Table(
    "statements",
    METADATA,
    sa.Column("loan_id", sa.String(64), primary_key=True),
    sa.Column("statement_id", sa.String(64), primary_key=True),
    sa.Column("period", sa.String(7), nullable=False),
    sa.Column("month", sa.Integer, nullable=False),  # months since year 0: the order of periods
    sa.Column("balance", sa.Float, nullable=False),
    sa.Column("paid", sa.Float, nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("intent", sa.String(32)),
    sa.Column("received_at", sa.String(32), nullable=False),
    sa.Column("probability", sa.Float),
    sa.Column("action", sa.String(32)),
    sa.Column("answer", sa.Text),
    sa.UniqueConstraint("loan_id", "period", name="statements_one_a_period"),
)


GENESIS = "0" * 64  # the "digest before the first record"


def _decision_store(connection: sa.Connection) -> None:
    for table in (RECORDS, CHAIN_HEAD, CASES):
        table.create(connection)
    connection.execute(CHAIN_HEAD.insert().values(id=1, seq=0, digest=GENESIS))


def _api_keys(connection: sa.Connection) -> None:
    API_KEYS.create(connection)


def _splits(connection: sa.Connection) -> None:
    SPLITS.create(connection)


def _loans(connection: sa.Connection) -> None:
    LOANS.create(connection)
    STATEMENTS.create(connection)


# Version n is MIGRATIONS[n - 1]; 0 is the empty database.
MIGRATIONS: tuple[Callable[[sa.Connection], None], ...] = (_decision_store, _api_keys, _splits, _loans)
LATEST = len(MIGRATIONS)

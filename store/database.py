"""Connect to the decision store's database and bring its schema up to date.

SQLite (a file under the state directory) unless `FINFER_DATABASE_URL` names a PostgreSQL server,
which several front replicas share. Connections fail fast (a few seconds at most) so that a dead
database turns into the spool, never into a hung request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from finfer.errors import Unavailable
from finfer.settings import Settings
from finfer.store import schema

T = TypeVar("T")

# What a dead, unreachable or refusing database raises through SQLAlchemy.
DatabaseError = sa.exc.DBAPIError


class SchemaTooNew(RuntimeError):
    pass


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def row_dict(row: sa.Row) -> dict[str, Any]:
    """A row's columns by name, as plain str keys (SQLAlchemy's are a str subclass JSON encoders refuse)."""
    return {str(k): v for k, v in row._mapping.items()}


def failure(exc: DatabaseError) -> str:
    """The driver's own first line about a failure (it names the host, never a record's content)."""
    return str(exc.orig).strip().splitlines()[0]


def database_url(settings: Settings) -> str:
    url = settings.database_url
    if url is None:
        return f"sqlite:///{(settings.state_dir / 'finfer.db').resolve()}"
    # One driver, psycopg 3, whatever the user wrote.
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def describe(url: str) -> str:
    """The URL without its password, for messages."""
    return sa.engine.make_url(url).render_as_string(hide_password=True)


def connect(settings: Settings) -> sa.Engine:
    url = database_url(settings)
    if url.startswith("sqlite"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": settings.database_timeout_s})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:
            # pysqlite must not open transactions itself: the "begin" listener below does.
            dbapi_connection.isolation_level = None
            # WAL: readers never wait for the writer; NORMAL: a commit costs no fsync of its own and the
            # WAL stays intact through a process crash (only a power cut may lose the last commits).
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")

        @sa.event.listens_for(engine, "begin")
        def _immediate(connection) -> None:
            # Take the write lock at BEGIN: two writers never deadlock upgrading a read lock.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    timeout_ms = int(settings.database_timeout_s * 1000)
    return sa.create_engine(
        url,
        pool_pre_ping=True,
        pool_size=4,
        connect_args={
            "connect_timeout": max(1, int(settings.database_timeout_s)),
            "options": f"-c statement_timeout={timeout_ms} -c lock_timeout={timeout_ms}",
        },
    )


async def off_loop(method: Callable[..., T], *args: Any, store: str = "the decision store") -> T:
    """A database call in a worker thread; a database that does not answer is a 503 naming `store`, never a hang."""
    try:
        return await asyncio.to_thread(method, *args)
    except DatabaseError:
        raise Unavailable(f"{store} is unreachable; retry later") from None


def schema_version(connection: sa.Connection) -> int:
    if not sa.inspect(connection).has_table(schema.SCHEMA_VERSION.name):
        return 0
    return connection.execute(sa.select(sa.func.max(schema.SCHEMA_VERSION.c.version))).scalar() or 0


def migrate(engine: sa.Engine, target: int = schema.LATEST) -> int:
    """Apply every migration up to `target`, each in its own transaction; returns the version reached.
    Fronts starting together on one PostgreSQL take turns (an advisory lock)."""
    for version in range(1, target + 1):
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(7361)"))
            current = schema_version(connection)
            if current > schema.LATEST:
                raise SchemaTooNew(
                    f"the database's schema is version {current}, newer than this finfer knows ({schema.LATEST}): "
                    "upgrade finfer"
                )
            if current >= version:
                continue
            if current == 0:
                schema.SCHEMA_VERSION.create(connection)
                connection.execute(schema.SCHEMA_VERSION.insert().values(version=0))
            schema.MIGRATIONS[version - 1](connection)
            connection.execute(schema.SCHEMA_VERSION.update().values(version=version))
    with engine.connect() as connection:
        return schema_version(connection)

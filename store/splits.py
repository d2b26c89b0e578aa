"""Traffic splits in the shared database: what every front serves, whichever front changed it.

One row a pipeline, replaced whole at each change with a new `revision`. A rollback only sets the candidate's
weight to 0 in the row as it stands, inside one transaction, so that it never undoes a split that another
front wrote a moment before.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from finfer.settings import Split
from finfer.store.schema import SPLITS


@dataclass(frozen=True)
class StoredSplit:
    pipeline: str
    split: Split
    revision: str
    changed_at: str
    cause: dict[str, Any]


def _stored(row: sa.Row) -> StoredSplit:
    return StoredSplit(
        pipeline=row.pipeline,
        split=Split.model_validate_json(row.split),
        revision=row.revision,
        changed_at=row.changed_at,
        cause=json.loads(row.cause),
    )


def read_all(engine: sa.Engine) -> dict[str, StoredSplit]:
    with engine.connect() as connection:
        return {row.pipeline: _stored(row) for row in connection.execute(sa.select(SPLITS))}


def _replace(
    connection: sa.Connection, pipeline: str, split: Split, cause: dict[str, Any], exists: bool
) -> StoredSplit:
    stored = StoredSplit(
        pipeline=pipeline,
        split=split,
        revision=secrets.token_hex(8),
        changed_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
        cause=cause,
    )
    values = {
        "split": split.model_dump_json(),
        "revision": stored.revision,
        "changed_at": stored.changed_at,
        "cause": json.dumps(cause, sort_keys=True),
    }
    if exists:
        connection.execute(SPLITS.update().where(SPLITS.c.pipeline == pipeline).values(**values))
    else:
        connection.execute(SPLITS.insert().values(pipeline=pipeline, **values))
    return stored


def _current(connection: sa.Connection, pipeline: str) -> StoredSplit | None:
    # FOR UPDATE on PostgreSQL (SQLite's BEGIN IMMEDIATE already holds the write lock): two fronts changing
    # one pipeline's split take turns.
    row = connection.execute(sa.select(SPLITS).where(SPLITS.c.pipeline == pipeline).with_for_update()).first()
    return None if row is None else _stored(row)


def write(engine: sa.Engine, pipeline: str, split: Split) -> StoredSplit:
    """`split` as the pipeline's shared split (PUT /v1/admin/splits/…)."""
    with engine.begin() as connection:
        exists = _current(connection, pipeline) is not None
        return _replace(connection, pipeline, split, {"kind": "put"}, exists)


def roll_back(engine: sa.Engine, pipeline: str, version: int, reason: str, served: Split) -> StoredSplit | None:
    """The shared split with `version`'s weight at 0; `served` (this front's split) where none is stored yet.
    None when the version has no weight there already (another front rolled it back, or a PUT took it off)."""
    with engine.begin() as connection:
        current = _current(connection, pipeline)
        split = served if current is None else current.split
        if split.by_version.get(version, 0) == 0:
            return None
        weights = {v: (0 if int(v) == version else w) for v, w in split.weights.items()}
        if not any(weights.values()):
            return None  # a PUT made it the only version served since: it is not a candidate any more
        cause = {"kind": "rollback", "version": version, "reason": reason}
        return _replace(connection, pipeline, split.model_copy(update={"weights": weights}), cause, current is not None)

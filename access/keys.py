"""API keys: made once, shown once, stored as the SHA-256 of their secret, revoked by id.

A key reads `fk_<id>_<secret>`: the id finds its record without scanning, the secret (160 random bits,
so a plain hash is enough: there is nothing to brute-force) proves it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from finfer.errors import InvalidArgument, NotFound
from finfer.pipelines.registry import REGISTRY
from finfer.store.database import now_iso, row_dict
from finfer.store.schema import API_KEYS

ADMIN = "admin"  # every scope
SCOPES: tuple[str, ...] = (*dict.fromkeys(p.access_scope for p in REGISTRY), "reviews:read", "reviews:write", ADMIN)
PREFIX = "fk"


@dataclass(frozen=True)
class KeyRecord:
    key_id: str
    name: str
    secret_sha256: str
    scopes: frozenset[str]
    rate_per_s: float | None
    burst: int | None
    created_at: str
    revoked_at: str | None

    def allows(self, scopes: tuple[str, ...]) -> bool:
        return ADMIN in self.scopes or not self.scopes.isdisjoint(scopes)


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse(token: str) -> tuple[str, str] | None:
    """(id, secret) of a key as written, or None when it is not one."""
    prefix, _, rest = token.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or len(key_id) != 12 or len(secret) < 32:
        return None
    return key_id, secret


def checked_scopes(scopes: list[str]) -> frozenset[str]:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise InvalidArgument(f"scopes: {', '.join(unknown) or 'none given'}; known: {', '.join(SCOPES)}", "scopes")
    return frozenset(scopes)


def create(
    engine: sa.Engine, name: str, scopes: list[str], rate_per_s: float | None = None, burst: int | None = None
) -> tuple[KeyRecord, str]:
    """A new key's record and the key itself (the only time it exists outside its holder's hands)."""
    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise InvalidArgument("name: 1-64 letters, digits, '-', '_' or '.'", "name")
    if rate_per_s is not None and rate_per_s <= 0:
        raise InvalidArgument("rate: must be above 0 requests a second", "rate")
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(30)
    record = KeyRecord(
        key_id=key_id,
        name=name,
        secret_sha256=secret_digest(secret),
        scopes=checked_scopes(scopes),
        rate_per_s=rate_per_s,
        burst=(burst or max(1, round(rate_per_s))) if rate_per_s else None,
        created_at=now_iso(),
        revoked_at=None,
    )
    values = {**record.__dict__, "scopes": " ".join(sorted(record.scopes))}
    with engine.begin() as connection:
        connection.execute(API_KEYS.insert().values(**values))
    return record, f"{PREFIX}_{key_id}_{secret}"


def _record(row: sa.Row) -> KeyRecord:
    values = row_dict(row)
    return KeyRecord(**{**values, "scopes": frozenset(values["scopes"].split())})


def listed(engine: sa.Engine) -> list[KeyRecord]:
    with engine.connect() as connection:
        return [_record(row) for row in connection.execute(sa.select(API_KEYS).order_by(API_KEYS.c.created_at))]


def active(engine: sa.Engine) -> dict[str, KeyRecord]:
    """Unrevoked keys by id: what the front checks requests against."""
    with engine.connect() as connection:
        rows = connection.execute(sa.select(API_KEYS).where(API_KEYS.c.revoked_at.is_(None)))
        return {row.key_id: _record(row) for row in rows}


def revoke(engine: sa.Engine, key_id: str) -> KeyRecord:
    with engine.begin() as connection:
        row = connection.execute(sa.select(API_KEYS).where(API_KEYS.c.key_id == key_id)).one_or_none()
        if row is None:
            raise NotFound(f"key_id: no key {key_id}", "key_id")
        if row.revoked_at is None:
            connection.execute(API_KEYS.update().where(API_KEYS.c.key_id == key_id).values(revoked_at=now_iso()))
        return _record(connection.execute(sa.select(API_KEYS).where(API_KEYS.c.key_id == key_id)).one())

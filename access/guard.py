"""The front's access check: who is calling (the key), may they (its scopes), may they now (its bucket).

Keys are read from the database into memory every few seconds, so a request costs a dictionary lookup and
one SHA-256, never a database call, and a revocation takes effect within the refresh interval.
"""

from __future__ import annotations

import hmac
import math
from dataclasses import dataclass

from finfer.access.keys import KeyRecord, parse, secret_digest
from finfer.access.ratelimit import TokenBucket
from finfer.errors import PermissionDenied, RateLimited, Unauthenticated
from finfer.front import metrics


@dataclass(frozen=True)
class Principal:
    name: str  # what reviews are recorded under


# Who calls when access control is off (a front on loopback): everything, recorded as `local`.
LOCAL = Principal("local")


class Guard:
    def __init__(self, enabled: bool, keys: dict[str, KeyRecord] | None = None) -> None:
        self.enabled = enabled
        self.keys: dict[str, KeyRecord] = {}
        self._buckets: dict[str, TokenBucket] = {}
        self.replace(keys or {})

    def replace(self, keys: dict[str, KeyRecord]) -> None:
        """A fresh read of the keys. Buckets belong to key names, so a rotated key keeps its budget."""
        for record in keys.values():
            bucket = self._buckets.get(record.name)
            if record.rate_per_s is None:
                self._buckets.pop(record.name, None)
            elif bucket is None or (bucket.rate, bucket.burst) != (record.rate_per_s, record.burst):
                self._buckets[record.name] = TokenBucket(record.rate_per_s, record.burst or 1)
        self.keys = keys

    def check(self, authorization: str | None, scopes: tuple[str, ...]) -> Principal:
        """The caller allowed one of `scopes`, or the refusal to answer with."""
        if not self.enabled:
            return LOCAL
        record = self._known(authorization)
        if not record.allows(scopes):
            metrics.AUTH_REFUSALS.labels("forbidden", record.name).inc()
            raise PermissionDenied(f"authorization: the key {record.name!r} lacks the scope {scopes[0]!r}")
        bucket = self._buckets.get(record.name)
        wait = bucket.take() if bucket is not None else 0.0
        if wait:
            metrics.AUTH_REFUSALS.labels("rate_limited", record.name).inc()
            raise RateLimited(
                f"authorization: the key {record.name!r} is over its {bucket.rate:g} requests a second",
                retry_after_s=max(1, math.ceil(wait)),
            )
        metrics.KEY_REQUESTS.labels(record.name).inc()
        return Principal(record.name)

    def _known(self, authorization: str | None) -> KeyRecord:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            metrics.AUTH_REFUSALS.labels("unauthenticated", "").inc()
            raise Unauthenticated("authorization: an API key is required (Authorization: Bearer <key>)")
        parsed = parse(token.strip())
        record = self.keys.get(parsed[0]) if parsed else None
        if record is None or not hmac.compare_digest(record.secret_sha256, secret_digest(parsed[1])):
            metrics.AUTH_REFUSALS.labels("unauthenticated", "").inc()
            raise Unauthenticated("authorization: the key is unknown or revoked")
        return record

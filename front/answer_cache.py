"""The cache of simple requests in the service layer: in-process first, Redis second, then the model.

One per pipeline (risk, intent); keys are salted hashes of the model version and the validated
input, so no applicant data or message text sits in a cache in clear.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from finfer.front import metrics
from finfer.front.cache import TTLCache, cache_key, raw_key
from finfer.front.shared_cache import SharedCache
from finfer.settings import Settings

Body = dict[str, Any]
# indices of the rows not in any cache → their answers, in that order
Compute = Callable[[list[int]], Awaitable[list[Body]]]
PER_REQUEST = ("request_id", "cached")


def shared_cache(settings: Settings) -> SharedCache | None:
    if not settings.redis_url:
        return None
    return SharedCache(settings.redis_url, settings.cache_ttl_s, settings.redis_timeout_s, settings.redis_pause_s)


class AnswerCache:
    def __init__(self, family: str, model_version: str, settings: Settings, shared: SharedCache | None) -> None:
        self.family = family
        self.model_version = model_version
        self.local = TTLCache(settings.cache_entries, settings.cache_ttl_s)
        self.shared = shared
        self._salt = settings.cache_salt.encode()

    def key(self, parts: Sequence[object]) -> bytes:
        return cache_key(self._salt, self.model_version, parts)

    def raw_hit(self, raw: bytes, request_id: str) -> Body | None:
        """The answer to a byte-identical request seen before, without parsing or validating it again.

        A body that was valid once is valid again, so repeats skip the most expensive part of a hit.
        """
        hit = self.local.get(raw_key(self._salt, self.model_version, raw))
        if hit is None:
            return None
        metrics.CACHE.labels(self.family, "hit").inc()
        return {**hit, "request_id": request_id, "cached": True}

    def remember_raw(self, raw: bytes, answer: Body) -> None:
        body = {k: v for k, v in answer.items() if k not in PER_REQUEST}
        self.local.put(raw_key(self._salt, self.model_version, raw), body)

    async def answer(self, keys: list[bytes], compute: Compute, request_id: str) -> list[Body]:
        answers: list[Body | None] = [None] * len(keys)
        missing = []
        for i, key in enumerate(keys):
            hit = self.local.get(key)
            if hit is not None:
                answers[i] = {**hit, "request_id": request_id, "cached": True}
            else:
                missing.append(i)
        hits = len(keys) - len(missing)
        if hits:
            metrics.CACHE.labels(self.family, "hit").inc(hits)
        if missing and self.shared is not None:
            missing = await self._shared_lookup(self.shared, keys, missing, answers, request_id)
        if missing:
            metrics.CACHE.labels(self.family, "miss").inc(len(missing))
            fresh = []
            for i, body in zip(missing, await compute(missing), strict=True):
                self.local.put(keys[i], body)
                fresh.append((keys[i], body))
                answers[i] = {**body, "request_id": request_id, "cached": False}
            metrics.CACHE_ENTRIES.labels(self.family).set(len(self.local))
            if self.shared is not None:
                await self.shared.put_many(fresh)
        return answers  # type: ignore[return-value]

    async def _shared_lookup(
        self,
        shared: SharedCache,
        keys: list[bytes],
        missing: list[int],
        answers: list[Body | None],
        request_id: str,
    ) -> list[int]:
        """Fill `answers` from Redis where another replica answered the row; return the rows still missing."""
        found = await shared.get_many([keys[i] for i in missing])
        still_missing = []
        for i, body in zip(missing, found, strict=True):
            if body is None:
                still_missing.append(i)
            else:
                self.local.put(keys[i], body)
                answers[i] = {**body, "request_id": request_id, "cached": True}
        shared_hits = len(missing) - len(still_missing)
        if shared_hits:
            metrics.CACHE.labels(self.family, "shared_hit").inc(shared_hits)
        return still_missing

    async def close(self) -> None:
        if self.shared is not None:
            await self.shared.close()

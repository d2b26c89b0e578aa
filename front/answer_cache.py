"""The cache of simple requests: in-process first, Redis second, then the model.

One per cached pipeline; keys are salted hashes of the model version and the validated input, so
no applicant data or message text sits in a cache in clear. Entries are the result's JSON, so an
HTTP hit is answered without serialising again; a gRPC hit reads the typed result back from it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from pydantic import TypeAdapter

from finfer.front import metrics
from finfer.front.cache import TTLCache, cache_key, raw_key
from finfer.front.shared_cache import SharedCache
from finfer.pipelines.declaration import Stored
from finfer.settings import Settings

# indices of the rows in no cache → their results, in that order
Compute = Callable[[list[int]], Awaitable[list[Stored]]]


def shared_cache(settings: Settings) -> SharedCache | None:
    if not settings.redis_url:
        return None
    return SharedCache(settings.redis_url, settings.cache_ttl_s, settings.redis_timeout_s, settings.redis_pause_s)


class AnswerCache:
    def __init__(
        self,
        pipeline: str,
        model_version: str,
        settings: Settings,
        shared: SharedCache | None,
        result: type,
    ) -> None:
        self.pipeline = pipeline
        self.model_version = model_version
        self.local = TTLCache(settings.cache_entries, settings.cache_ttl_s)
        self.shared = shared
        self._parse = TypeAdapter(result).validate_json
        self._salt = settings.cache_salt.encode()

    def key(self, parts: Sequence[object]) -> bytes:
        return cache_key(self._salt, self.model_version, parts)

    def _raw_key(self, protocol: str, raw: bytes) -> bytes:
        return raw_key(self._salt, f"{self.model_version}\x00{protocol}", raw)

    def raw_get(self, protocol: str, raw: bytes) -> Stored | None:
        """The result of a byte-identical request seen before, without parsing or validating it again.

        A body that was valid once is valid again, so repeats skip the most expensive part of a hit.
        """
        hit = self.local.get(self._raw_key(protocol, raw))
        if hit is None:
            return None
        metrics.CACHE.labels(self.pipeline, "hit").inc()
        return Stored(hit, parse=self._parse)

    def remember_raw(self, protocol: str, raw: bytes, stored: Stored) -> None:
        self.local.put(self._raw_key(protocol, raw), stored.json)

    async def answer(self, keys: list[bytes], compute: Compute) -> list[tuple[Stored, bool]]:
        """Each key's result and whether a cache held it."""
        answers: list[tuple[Stored, bool] | None] = [None] * len(keys)
        missing = []
        for i, key in enumerate(keys):
            hit = self.local.get(key)
            if hit is not None:
                answers[i] = (Stored(hit, parse=self._parse), True)
            else:
                missing.append(i)
        hits = len(keys) - len(missing)
        if hits:
            metrics.CACHE.labels(self.pipeline, "hit").inc(hits)
        if missing and self.shared is not None:
            missing = await self._shared_lookup(self.shared, keys, missing, answers)
        if missing:
            metrics.CACHE.labels(self.pipeline, "miss").inc(len(missing))
            fresh = []
            for i, stored in zip(missing, await compute(missing), strict=True):
                self.local.put(keys[i], stored.json)
                fresh.append((keys[i], stored.json))
                answers[i] = (stored, False)
            metrics.CACHE_ENTRIES.labels(self.pipeline).set(len(self.local))
            if self.shared is not None:
                await self.shared.put_many(fresh)
        return answers  # type: ignore[return-value]

    async def _shared_lookup(
        self,
        shared: SharedCache,
        keys: list[bytes],
        missing: list[int],
        answers: list[tuple[Stored, bool] | None],
    ) -> list[int]:
        """Fill `answers` from Redis where another replica answered the row; return the rows still missing."""
        found = await shared.get_many([keys[i] for i in missing], self._from_json)
        still_missing = []
        for i, stored in zip(missing, found, strict=True):
            if stored is None:
                still_missing.append(i)
            else:
                self.local.put(keys[i], stored.json)
                answers[i] = (stored, True)
        shared_hits = len(missing) - len(still_missing)
        if shared_hits:
            metrics.CACHE.labels(self.pipeline, "shared_hit").inc(shared_hits)
        return still_missing

    def _from_json(self, value: bytes) -> Stored:
        # Validated at once: another replica (or anyone with access to Redis) wrote it.
        return Stored(value, self._parse(value))

    async def close(self) -> None:
        if self.shared is not None:
            await self.shared.close()

"""Redis as the second cache level, shared by the front's replicas.

The cache is an optimisation, never a dependency: a Redis that is slow, down or unreachable makes
every lookup a miss, and after a failure the front leaves Redis alone for `pause_s` so that an outage
costs one timeout, not one per request. Keys are the same salted digests as the in-process cache,
so Redis holds no applicant data in clear either.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import orjson
from redis import asyncio as redis
from redis.exceptions import RedisError

from finfer.front import metrics

KEY_PREFIX = b"finfer:"
T = TypeVar("T")


class SharedCache:
    def __init__(
        self,
        url: str,
        ttl_s: float,
        timeout_s: float,
        pause_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.pause_s = pause_s
        self._clock = clock
        self._paused_until = 0.0
        self._redis = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry_on_timeout=False
        )

    @staticmethod
    def redis_key(key: bytes) -> bytes:
        return KEY_PREFIX + key.hex().encode()

    @property
    def available(self) -> bool:
        return self._clock() >= self._paused_until

    async def get_many(self, keys: Sequence[bytes], decode: Callable[[bytes], T] = orjson.loads) -> list[T | None]:
        """The values under `keys`, each through `decode`; a value it cannot read (ValueError) is a miss."""
        if not keys or not self.available:
            return [None] * len(keys)
        try:
            values = await self._redis.mget([self.redis_key(k) for k in keys])
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return [None] * len(keys)
        return [self._decode(v, decode) for v in values]

    @staticmethod
    def _decode(value: bytes | None, decode: Callable[[bytes], T]) -> T | None:
        # Only finfer writes under its prefix; anything unreadable there is treated as a miss, not a 500.
        if value is None:
            return None
        try:
            return decode(value)
        except ValueError:
            return None

    async def put_many(self, items: Sequence[tuple[bytes, bytes]]) -> None:
        if not items or not self.available:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, value in items:
                    pipe.set(self.redis_key(key), value, px=self.ttl_ms)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._failed(exc)

    async def close(self) -> None:
        await self._redis.aclose()

    def _failed(self, exc: BaseException) -> None:
        metrics.SHARED_CACHE_ERRORS.labels(type(exc).__name__).inc()
        self._paused_until = self._clock() + self.pause_s

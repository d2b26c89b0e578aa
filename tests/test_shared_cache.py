"""The Redis second cache level: against a real redis-server, and two real fronts sharing it."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest
import redis

from finfer.front import metrics
from finfer.front.cache import cache_key
from finfer.front.shared_cache import KEY_PREFIX, SharedCache
from finfer.loadtest import stack
from finfer.loadtest.stack import free_ports
from finfer.pipelines import risk
from tests.helpers import fresh_applicant, metric


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def errors() -> float:
    return sum(s.value for m in metrics.SHARED_CACHE_ERRORS.collect() for s in m.samples if s.name.endswith("_total"))


def test_values_round_trip_under_hashed_keys_with_a_ttl(redis_url):
    async def scenario() -> list:
        cache = SharedCache(redis_url, ttl_s=30, timeout_s=1, pause_s=5)
        await cache.put_many([(b"\x01" * 16, b'{"grade":"B","p":0.25}'), (b"\x02" * 16, b'{"grade":"C"}')])
        found = await cache.get_many([b"\x01" * 16, b"\x03" * 16, b"\x02" * 16])
        await cache.close()
        return found

    assert asyncio.run(scenario()) == [{"grade": "B", "p": 0.25}, None, {"grade": "C"}]
    client = redis.Redis.from_url(redis_url)
    key = KEY_PREFIX + (b"\x01" * 16).hex().encode()
    assert 0 < client.pttl(key) <= 30_000
    client.close()


def test_an_unreachable_redis_is_a_miss_and_is_left_alone_for_the_pause():
    (closed_port,) = free_ports(1)
    clock = Clock()
    before = errors()

    async def scenario() -> list:
        cache = SharedCache(f"redis://127.0.0.1:{closed_port}/0", ttl_s=30, timeout_s=0.2, pause_s=5, clock=clock)
        first = await cache.get_many([b"k" * 16])
        await cache.put_many([(b"k" * 16, b'{"x":1}')])  # paused: not even tried
        clock.now = 4.9
        second = await cache.get_many([b"k" * 16])
        paused_errors = errors()
        clock.now = 5.1
        await cache.get_many([b"k" * 16])  # pause over: tried again, fails again
        await cache.close()
        return [first, second, paused_errors]

    first, second, paused_errors = asyncio.run(scenario())
    assert first == [None] and second == [None]
    assert paused_errors == before + 1
    assert errors() == before + 2


@pytest.fixture(scope="module")
def two_fronts(settings, triton, redis_url, tmp_path_factory):
    """Two front replicas on their own ports, sharing the session's Triton, one Redis and one salt."""
    fronts = []
    with_redis = []
    for _ in range(2):
        http, grpc_port = free_ports(2)
        # The default 50 ms Redis timeout is a production budget; on a busy 2-core test machine a slow
        # write would pause the shared cache and turn the hit under test into a miss.
        update = {"http_port": http, "grpc_port": grpc_port, "redis_url": redis_url, "redis_timeout_s": 1.0}
        with_redis.append(settings.model_copy(update=update))
    contexts = [stack.front(s) for s in with_redis]
    try:
        for context in contexts:
            fronts.append(context.__enter__())
        yield [f"http://127.0.0.1:{s.http_port}" for s in with_redis]
    finally:
        for context in contexts[: len(fronts)]:
            context.__exit__(None, None, None)


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{url}/v1/risk/score", data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_a_score_from_one_replica_is_a_hit_on_the_other(two_fronts, redis_url, settings):
    first, second = two_fronts
    applicant = fresh_applicant()
    scored = post(first, applicant)
    shared_before = metric(f"{second}/metrics", "finfer_cache_lookups_total", result="shared_hit")
    again = post(second, applicant)
    assert scored["cached"] is False
    assert again["cached"] is True
    assert again["probability_of_default"] == scored["probability_of_default"]
    assert again["reasons"] == scored["reasons"]
    assert metric(f"{second}/metrics", "finfer_cache_lookups_total", result="shared_hit") == shared_before + 1
    # The key in Redis is the salted digest of the model version and the validated row, nothing in clear.
    codec = risk.PIPELINE.load(settings.model_repository)
    digest = cache_key(settings.cache_salt.encode(), codec.model_version, codec.key(codec.row(applicant)))
    client = redis.Redis.from_url(redis_url)
    keys = set(client.scan_iter(match="finfer:*"))
    stored = client.get(SharedCache.redis_key(digest))
    client.close()
    assert SharedCache.redis_key(digest) in keys
    assert all(len(k) == len(KEY_PREFIX) + 32 for k in keys)
    # What Redis holds under it is the result alone: the same reasons, no applicant field.
    assert json.loads(stored)["reasons"] == scored["reasons"]
    assert not set(json.loads(stored)) & set(applicant)


def test_an_unreadable_value_is_a_miss(redis_url):
    client = redis.Redis.from_url(redis_url)
    client.set(SharedCache.redis_key(b"\x09" * 16), b"{not json")
    client.close()

    async def scenario() -> list:
        cache = SharedCache(redis_url, ttl_s=30, timeout_s=1, pause_s=5)
        found = await cache.get_many([b"\x09" * 16])
        await cache.close()
        return found

    assert asyncio.run(scenario()) == [None]

from finfer.front.cache import TTLCache, cache_key, raw_key


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_entries_expire_after_ttl():
    clock = Clock()
    cache = TTLCache(10, ttl_s=5, clock=clock)
    cache.put(b"k", {"v": 1})
    clock.now = 4.9
    assert cache.get(b"k") == {"v": 1}
    clock.now = 5.1
    assert cache.get(b"k") is None
    assert len(cache) == 0


def test_least_recently_used_is_evicted():
    cache = TTLCache(2, ttl_s=60)
    cache.put(b"a", 1)
    cache.put(b"b", 2)
    cache.get(b"a")
    cache.put(b"c", 3)
    assert cache.get(b"b") is None
    assert cache.get(b"a") == 1 and cache.get(b"c") == 3


def test_zero_capacity_caches_nothing():
    cache = TTLCache(0, ttl_s=60)
    cache.put(b"a", 1)
    assert cache.get(b"a") is None


def test_keys_are_salted_hashes_without_the_input_in_clear():
    key = cache_key(b"salt-one", "risk-1", ("Alice Example", 1200.0))
    assert len(key) == 16
    assert b"Alice" not in key
    assert key == cache_key(b"salt-one", "risk-1", ("Alice Example", 1200.0))
    assert key != cache_key(b"salt-two", "risk-1", ("Alice Example", 1200.0))
    assert key != cache_key(b"salt-one", "risk-2", ("Alice Example", 1200.0))
    assert key != cache_key(b"salt-one", "risk-1", ("Alice Example", 1200.5))


def test_raw_keys_are_salted_and_versioned():
    body = b'{"name": "Alice Example"}'
    key = raw_key(b"salt-one", "risk-1", body)
    assert len(key) == 16 and b"Alice" not in key
    assert key != raw_key(b"salt-two", "risk-1", body)
    assert key != raw_key(b"salt-one", "risk-2", body)
    assert key != raw_key(b"salt-one", "risk-1", body + b" ")

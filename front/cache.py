"""The cache of simple requests: in-process LRU with a TTL, keyed on salted hashes.

Keys are keyed-BLAKE2b digests of the model version plus the canonical input, so no applicant
data sits in the cache (or in anything that dumps it) in clear.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any


def cache_key(salt: bytes, model_version: str, parts: Iterable[object]) -> bytes:
    """Key of a validated input: its values in model column order, repr'd and joined by \x1f."""
    canonical = "\x1f".join([model_version, *(repr(p) for p in parts)]).encode()
    return hashlib.blake2b(canonical, key=salt, digest_size=16).digest()


def raw_key(salt: bytes, model_version: str, raw: bytes) -> bytes:
    """Key of a request body as received (hashed as is: no copy or repr on the hit path)."""
    digest = hashlib.blake2b(key=salt, digest_size=16, person=b"finfer-raw")
    digest.update(model_version.encode())
    digest.update(b"\x00")
    digest.update(raw)
    return digest.digest()


class TTLCache:
    def __init__(self, max_entries: int, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: OrderedDict[bytes, tuple[float, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes) -> Any | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires < self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: bytes, value: Any) -> None:
        if self.max_entries == 0:
            return
        self._entries[key] = (self._clock() + self.ttl_s, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

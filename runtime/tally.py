"""Counters a Python model keeps itself and hands to Triton's /metrics in bulk.

A `pb_utils.Metric.increment` is a round trip over the stub's message queue to the server: in the loan
application's stub, its six increments an application took about a fifth of the stub's CPU, and a fused
pipeline paid one a step a batch. A tally adds in process memory and a daemon thread hands the sums over
every `every_s`, so /metrics lags by at most that much. The stub's message queue takes calls from several
threads (BLS `async_exec` runs in a thread pool), so a flush beside an `execute` is safe.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Mapping
from typing import Any

FLUSH_S = 0.5


class Tally:
    def __init__(self, metrics: Mapping[Hashable, Any], every_s: float = FLUSH_S) -> None:
        """`metrics`: key → a Triton Metric (anything with `increment(amount)`)."""
        self.metrics = dict(metrics)
        self.every_s = every_s
        self._pending: dict[Hashable, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, key: Hashable, amount: float = 1) -> None:
        with self._lock:
            self._pending[key] = self._pending.get(key, 0) + amount
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="tally", daemon=True)
                self._thread.start()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        for key, amount in pending.items():
            self.metrics[key].increment(amount)

    def close(self) -> None:
        """Hand over what is pending (a model's `finalize`)."""
        self._stop.set()
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.flush()

"""runtime/tally.py: counts summed in the stub and handed over in bulk, none lost."""

from __future__ import annotations

import threading

from finfer.runtime.tally import Tally
from tests.conftest import wait_until


class Series:
    """Stands in for a Triton Metric (which exists only inside a stub): records each increment it is handed."""

    def __init__(self) -> None:
        self.increments: list[float] = []

    def increment(self, amount: float) -> None:
        self.increments.append(amount)


def test_counts_reach_their_series_summed_within_the_flush_interval():
    ok, failed = Series(), Series()
    tally = Tally({"ok": ok, "failed": failed}, every_s=0.05)
    for _ in range(100):
        tally.add("ok")
    tally.add("failed", 2.5)
    wait_until(lambda: sum(ok.increments) == 100 and failed.increments == [2.5], 5, "the counts handed over")
    # In bulk: far fewer round trips than additions.
    assert len(ok.increments) < 100


def test_close_hands_over_what_is_pending_and_nothing_is_lost_across_threads():
    series = Series()
    tally = Tally({"n": series}, every_s=0.01)
    threads = [threading.Thread(target=lambda: [tally.add("n") for _ in range(5000)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tally.close()
    assert sum(series.increments) == 20_000

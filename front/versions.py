"""Model operations on a pipeline's built versions: a sticky traffic split, shadow copies compared with the
served answer, and automatic rollback of a candidate that fails or disagrees.

Versions are Triton's version folders (`finfer build --version N`; 1 is the served one). The split hashes a
request key (the codec's `split_key`: the row's values) into 10,000 buckets laid over the weights in version
order, so one applicant meets one version for as long as the weights stand. The baseline is the version with
the most weight; every other version with weight is a candidate. A candidate's answers are compared in the
background with the baseline's, and a shadow's (a version receiving copies) with the served answer: those
comparisons run after the answer is sent, bounded in number and time, and never reach a client.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from finfer.errors import FrontError, InvalidArgument, Unavailable
from finfer.front import metrics
from finfer.front.served import Served
from finfer.pipelines.declaration import Comparison, Pipeline, Stored
from finfer.settings import Settings, Split

log = logging.getLogger("finfer.versions")

BUCKETS = 10_000

# A row's answer: the version that gave it, its result, whether a cache did (None: never cached).
Routed = tuple[Served, Stored, "bool | None"]


def bucket(key: bytes) -> int:
    """A request key's place among BUCKETS, the same in every process (unlike Python's salted hash)."""
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") % BUCKETS


def choose(weights: Mapping[int, int], place: int) -> int:
    """The version whose share of the buckets holds `place`: shares in version order, proportional to weight."""
    total = sum(weights.values())
    cumulative = 0
    for version in sorted(weights):
        cumulative += weights[version]
        if place * total < cumulative * BUCKETS:  # place / BUCKETS < cumulative / total, without floats
            return version
    raise ValueError("no version has weight")


def baseline(weights: Mapping[int, int]) -> int:
    """The version with the most weight (the lower one on a tie): what candidates are compared with."""
    return max(weights, key=lambda v: (weights[v], -v))


def checked_split(split: Split, built: Sequence[int]) -> Split:
    """`split` when it names only built versions; otherwise an InvalidArgument naming the field."""
    listed = ", ".join(map(str, built))
    for version in split.by_version:
        if version not in built:
            raise InvalidArgument(f"weights: version {version} is not built (built: {listed})", "weights")
    if split.shadow is not None and split.shadow not in built:
        raise InvalidArgument(f"shadow: version {split.shadow} is not built (built: {listed})", "shadow")
    return split


class Window:
    """The share of True among the last `size` outcomes, kept incrementally."""

    def __init__(self, size: int) -> None:
        self._seen: deque[bool] = deque(maxlen=size)
        self._true = 0

    def add(self, value: bool) -> None:
        if len(self._seen) == self._seen.maxlen:
            self._true -= self._seen[0]
        self._seen.append(value)
        self._true += value

    @property
    def count(self) -> int:
        return len(self._seen)

    def rate(self) -> float:
        return self._true / len(self._seen) if self._seen else 0.0


@dataclass(frozen=True)
class Bounds:
    """When a candidate taking live traffic is rolled back."""

    window: int
    min_answers: int
    error_rate: float
    disagreement_rate: float
    latency_ratio: float = 3.0
    latency_margin_s: float = 0.25

    @classmethod
    def of(cls, settings: Settings) -> Bounds:
        return cls(
            settings.rollback_window,
            settings.rollback_min_answers,
            settings.rollback_error_rate,
            settings.rollback_disagreement_rate,
            settings.rollback_latency_ratio,
            settings.rollback_latency_margin_ms / 1000,
        )


COLD_ANSWERS = 10  # not timed: a version's first answers


class Health:
    """A version's recent errors, disagreements with the baseline and answer times (seconds, one an answer)."""

    def __init__(self, bounds: Bounds) -> None:
        self.bounds = bounds
        self.errors = Window(bounds.window)
        self.disagreements = Window(bounds.window)
        self.seconds: deque[float] = deque(maxlen=bounds.window)
        self.timed_answers = 0

    def timed(self, seconds: float, answers: int) -> None:
        # A version's first answers carry its cold start (the front warms only version 1's models).
        cold = min(answers, max(0, COLD_ANSWERS - self.timed_answers))
        self.timed_answers += answers
        self.seconds.extend([seconds] * (answers - cold))

    def p95_s(self) -> float | None:
        """The 95th percentile answer time, once there are enough answers to judge."""
        if len(self.seconds) < self.bounds.min_answers:
            return None
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]

    def breach(self, baseline: Health | None = None) -> str | None:
        """Why the candidate must be rolled back, or None; `baseline`: the baseline's health, for latency."""
        for what, window, bound in (
            ("error rate", self.errors, self.bounds.error_rate),
            ("disagreement with the baseline", self.disagreements, self.bounds.disagreement_rate),
        ):
            if window.count >= self.bounds.min_answers and window.rate() > bound:
                return f"{what} {window.rate():.2f} over its last {window.count} answers is above {bound:g}"
        mine, theirs = self.p95_s(), baseline.p95_s() if baseline is not None else None
        if mine is not None and theirs is not None:
            limit = max(self.bounds.latency_ratio * theirs, theirs + self.bounds.latency_margin_s)
            if mine > limit:
                return (
                    f"p95 latency {mine * 1000:.0f} ms over its last {len(self.seconds)} answers is above "
                    f"{self.bounds.latency_ratio:g}x the baseline's {theirs * 1000:.0f} ms"
                )
        return None

    def snapshot(self) -> dict[str, Any]:
        p95 = self.p95_s()
        return {
            "answers": self.errors.count,
            "error_rate": self.errors.rate(),
            "compared": self.disagreements.count,
            "disagreement_rate": self.disagreements.rate(),
            "p95_ms": None if p95 is None else round(p95 * 1000, 2),
        }


class Versions:
    """One pipeline's built versions and the traffic between them."""

    def __init__(self, pipeline: Pipeline, served: dict[int, Served], split: Split, settings: Settings) -> None:
        self.pipeline = pipeline
        self.served = served
        self.bounds = Bounds.of(settings)
        self.shadow_timeout_s = settings.shadow_timeout_s
        self.max_queued = settings.shadow_max_queued
        # (time, answered by, compared with, the answer's JSON, the other's JSON, their comparison)
        self.disagreements: deque[tuple[float, int, int, bytes, bytes, Comparison]] = deque(
            maxlen=settings.disagreements_kept
        )
        self.rollbacks: list[dict[str, Any]] = []
        # Copies wait here for the one worker that sends them: a deque append is all an answer pays.
        self._queue: deque[tuple[int, int, Any, Routed]] = deque()  # (copy to, judged, row, its answer)
        self._queued = 0  # rows queued or in flight
        self._wake = asyncio.Event()
        self._worker: asyncio.Task | None = None
        self.weights: dict[int, int] = {}
        self.shadow: int | None = None
        self.health: dict[int, Health] = {}
        # Told of each rollback this front decides (front/split_sync.py shares it with the other fronts).
        self.on_rollback: Callable[[int, str], None] = lambda version, reason: None
        self.apply(split)

    @property
    def built(self) -> list[int]:
        return sorted(self.served)

    def apply(self, split: Split) -> None:
        """New weights and shadow, at once for the next request; the candidates' windows start again."""
        checked_split(split, self.built)
        weights = split.by_version
        self.weights = {v: weights.get(v, 0) for v in self.built}
        self.shadow = split.shadow
        self.health = {v: Health(self.bounds) for v in self.built}
        self._publish()

    @property
    def split(self) -> Split:
        """The split as served now (a rollback may have changed it since the last `apply`)."""
        return Split(weights={str(v): w for v, w in self.weights.items()}, shadow=self.shadow)

    def apply_shared(self, split: Split, cause: dict[str, Any], changed_at: str) -> None:
        """A split another front wrote to the shared store; its rollback is listed here as well."""
        self.apply(split)
        if cause.get("kind") == "rollback":
            at = datetime.fromisoformat(changed_at).timestamp()
            version, reason = cause["version"], cause["reason"]
            self.rollbacks.append({"time": at, "version": version, "reason": reason, "decided_by": "another front"})
            log.warning("rollback: %s version %d (another front's): %s", self.pipeline.name, version, reason)

    @property
    def baseline(self) -> int:
        return baseline(self.weights)

    @property
    def sole(self) -> Served | None:
        """The one version answering everything when nothing is compared (then its raw-bytes cache may answer)."""
        live = [v for v, w in self.weights.items() if w > 0]
        return self.served[live[0]] if len(live) == 1 and self.shadow in (None, live[0]) else None

    def assign(self, rows: Sequence[Any]) -> dict[int, list[int]]:
        """Each live version and the indexes of the rows it answers."""
        live = {v: w for v, w in self.weights.items() if w > 0}
        if len(live) == 1:
            return {next(iter(live)): list(range(len(rows)))}
        codec = self.served[self.baseline].codec
        groups: dict[int, list[int]] = {}
        for i, row in enumerate(rows):
            groups.setdefault(choose(live, bucket(codec.split_key(row))), []).append(i)
        return groups

    async def results(self, rows: Sequence[Any]) -> list[Routed]:
        """Each row answered by the version the split gives it; a candidate that fails hands its rows to the
        baseline. Counted against the candidate: its model's own errors, once the baseline has answered its
        rows. Not counted: a server that did not answer (Unavailable), which is an outage, not the candidate's
        doing, even when the server is back by the time the baseline is asked."""
        routed: list[Routed | None] = [None] * len(rows)

        async def answer(version: int, indexes: list[int]) -> None:
            subset = [rows[i] for i in indexes]
            served, first = self.served[version], self.baseline
            started = time.perf_counter()
            try:
                results = await served.results(subset)
            except InvalidArgument:
                raise
            except FrontError as error:
                if version == first:
                    raise
                waited = time.perf_counter() - started
                served = self.served[first]
                results = await served.results(subset)
                self._answered(version, len(indexes), waited, error)
            else:
                self._answered(version, len(indexes), time.perf_counter() - started)
            for i, (stored, cached) in zip(indexes, results, strict=True):
                routed[i] = (served, stored, cached)

        await asyncio.gather(*(answer(v, indexes) for v, indexes in self.assign(rows).items()))
        done = [r for r in routed if r is not None]
        self._compare_later(rows, done)
        return done

    def _answered(self, version: int, count: int, seconds: float, error: FrontError | None = None) -> None:
        name = self.pipeline.name
        metrics.VERSION_ANSWERS.labels(name, str(version), "ok" if error is None else "error").inc(count)
        health = self.health[version]
        if version == self.baseline:
            if error is None:
                health.timed(seconds, count)
            return
        if error is not None:
            log.warning("%s version %d failed %d answers (the baseline answered): %s", name, version, count, error)
        # Timed even when it fails: a hung candidate's calls end at the upstream deadline as an outage, and that
        # wait is what its rows paid before the baseline answered them.
        health.timed(seconds, count)
        if not isinstance(error, Unavailable):  # an outage says nothing of the candidate's answers
            for _ in range(count):
                health.errors.add(error is not None)
        self._check(version)

    def _check(self, version: int) -> None:
        reason = self.health[version].breach(self.health[self.baseline])
        if reason is None or self.weights[version] == 0 or version == self.baseline:
            return
        self.weights[version] = 0
        name = self.pipeline.name
        event = {"time": time.time(), "version": version, "reason": reason, "decided_by": "this front"}
        self.rollbacks.append(event)
        metrics.ROLLBACKS.labels(name, str(version)).inc()
        self._publish()
        log.warning("rollback: %s version %d: %s; its weight is now 0", name, version, reason)
        self.on_rollback(version, reason)

    def _publish(self) -> None:
        for version, weight in self.weights.items():
            metrics.SPLIT_WEIGHT.labels(self.pipeline.name, str(version)).set(weight)

    def _compare_later(self, rows: Sequence[Any], routed: list[Routed]) -> None:
        """Queue every candidate's answer for the baseline's, and every answer for the shadow's; the worker
        compares them after the answers are sent."""
        first = self.baseline
        for row, answer in zip(rows, routed, strict=True):
            version = answer[0].version
            if version != first:
                self._enqueue(first, version, row, answer)
            if self.shadow is not None and self.shadow not in (version, first):
                self._enqueue(self.shadow, self.shadow, row, answer)

    def _enqueue(self, other: int, candidate: int, row: Any, answer: Routed) -> None:
        if self._queued >= self.max_queued:
            metrics.SHADOW_CALLS.labels(self.pipeline.name, str(other), "dropped").inc()
            return
        self._queued += 1
        self._queue.append((other, candidate, row, answer))
        self._wake.set()
        if self._worker is None:
            self._worker = asyncio.create_task(self._work())

    async def _work(self) -> None:
        """Send what is queued, each compared-and-judged pair of versions in one call a round, until closed."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            groups: dict[tuple[int, int], tuple[list[Any], list[Routed]]] = {}
            while self._queue:
                other, candidate, row, answer = self._queue.popleft()
                copies, answers = groups.setdefault((other, candidate), ([], []))
                copies.append(row)
                answers.append(answer)
            sent = (self._compare(o, c, rows, answers) for (o, c), (rows, answers) in groups.items())
            for outcome in await asyncio.gather(*sent, return_exceptions=True):
                if isinstance(outcome, Exception):  # a comparison's own bug must not stop the next ones
                    log.error("%s: comparing versions failed: %r", self.pipeline.name, outcome)

    async def _compare(self, other: int, candidate: int, rows: list[Any], routed: list[Routed]) -> None:
        name, label = self.pipeline.name, str(other)
        try:
            results = await asyncio.wait_for(self.served[other].results(rows), self.shadow_timeout_s)
        except TimeoutError:
            metrics.SHADOW_CALLS.labels(name, label, "timeout").inc(len(rows))
            return
        except Exception:  # noqa: BLE001 - a failing copy is counted and never reaches a client
            metrics.SHADOW_CALLS.labels(name, label, "failed").inc(len(rows))
            return
        finally:
            self._queued -= len(rows)
        metrics.SHADOW_CALLS.labels(name, label, "compared").inc(len(rows))
        codec = self.served[other].codec
        comparisons = [
            (served, stored, theirs, codec.compare(stored.result, theirs.result))
            for (served, stored, _), (theirs, _) in zip(routed, results, strict=True)
        ]
        self._record(candidate, other, comparisons)

    def _record(self, candidate: int, other: int, comparisons: list[tuple[Served, Stored, Stored, Comparison]]) -> None:
        name, label = self.pipeline.name, str(candidate)
        differences = metrics.COMPARISON_DIFFERENCE.labels(name, label)
        overlaps = metrics.COMPARISON_OVERLAP.labels(name, label)
        disagreed = 0
        for served, stored, theirs, comparison in comparisons:
            if comparison.difference is not None:
                differences.observe(comparison.difference)
            if comparison.overlap is not None:
                overlaps.observe(comparison.overlap)
            if candidate != other:  # a live candidate: its disagreement with the baseline may roll it back
                self.health[candidate].disagreements.add(not comparison.agree)
            if not comparison.agree:
                disagreed += 1
                # Kept as the answers' JSON: parsed only when someone reads them.
                self.disagreements.append((time.time(), served.version, other, stored.json, theirs.json, comparison))
        metrics.COMPARISONS.labels(name, label, "disagree").inc(disagreed)
        metrics.COMPARISONS.labels(name, label, "agree").inc(len(comparisons) - disagreed)
        if candidate != other:
            self._check(candidate)

    def snapshot(self) -> dict[str, Any]:
        return {
            "versions": {str(v): s.model_version for v, s in sorted(self.served.items())},
            "weights": {str(v): w for v, w in self.weights.items()},
            "shadow": self.shadow,
            "baseline": self.baseline,
            "baseline_p95_ms": self.health[self.baseline].snapshot()["p95_ms"],
            "candidates": {
                str(v): self.health[v].snapshot() for v in self.built if v != self.baseline and self.weights[v]
            },
            "rollbacks": self.rollbacks,
            "disagreements": [
                {
                    "time": at,
                    "answered_by": answered_by,
                    "compared_with": other,
                    "answer": orjson.loads(answer),
                    "other": orjson.loads(theirs),
                    "difference": comparison.difference,
                    "overlap": comparison.overlap,
                }
                for at, answered_by, other, answer, theirs, comparison in self.disagreements
            ],
        }

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)

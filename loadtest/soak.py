"""`finfer soak`: mixed pipelines at about half of the measured capacity for a long while, with the resident
memory of every process (the front, Triton, each Python stub) sampled throughout.

Capacity is measured first on the same cluster (closed loop, 32 clients). Growth is compared between the
end of the warm-up and the end of the run, each the median of a few samples. Fraud requests do not persist
here (a graph that grows by the applications it is given is not a leak), and the front's and Triton's
answer caches are kept small so that they are full before the warm-up ends.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from finfer import paths
from finfer.loadtest import stack
from finfer.loadtest.cluster import Cluster, cluster
from finfer.loadtest.mix import DEFAULT_MIX, pipeline_weights
from finfer.loadtest.traffic import Traffic, percentile

GROWTH_LIMIT = 0.05


@dataclass
class Memory:
    process: str
    warm_mib: float
    end_mib: float
    by_minute: list[float]  # the RSS at each whole minute of the soak, to tell a plateau from a leak

    @property
    def growth(self) -> float:
        return self.end_mib / self.warm_mib - 1 if self.warm_mib else 0.0


@dataclass
class SoakReport:
    capacity_rps: float
    rate_rps: float
    duration_s: float
    warm_s: float
    answers: dict[str, int]
    p50_ms: float
    p95_ms: float
    p99_ms: float
    memory: list[Memory]

    @property
    def errors(self) -> int:
        return sum(n for key, n in self.answers.items() if not key.endswith(" 200"))

    def problems(self) -> list[str]:
        found = [f"{self.errors} answers were not 200"] if self.errors else []
        found += [
            f"{m.process} grew {m.growth:.1%} after warm-up ({m.warm_mib:.0f} → {m.end_mib:.0f} MiB)"
            for m in self.memory
            if m.growth > GROWTH_LIMIT
        ]
        return found

    def markdown(self) -> str:
        lines = [
            f"# finfer soak: {self.duration_s / 60:.0f} min at {self.rate_rps:.0f} requests/s "
            f"(measured capacity {self.capacity_rps:.0f}/s), warm-up {self.warm_s:.0f} s",
            "",
            "Answers: " + ", ".join(f"{k}: {v}" for k, v in sorted(self.answers.items())),
            f"Latency: p50 {self.p50_ms:.1f} ms, p95 {self.p95_ms:.1f} ms, p99 {self.p99_ms:.1f} ms",
            "",
            "| process | RSS after warm-up | RSS at the end | growth |",
            "| --- | ---: | ---: | ---: |",
        ]
        lines += [
            f"| {m.process} | {m.warm_mib:.0f} MiB | {m.end_mib:.0f} MiB | {m.growth:+.1%} |" for m in self.memory
        ]
        grew = [m for m in self.memory if m.growth > GROWTH_LIMIT]
        if grew:
            lines += ["", "RSS by minute (MiB) of the processes that grew:"]
            lines += [f"- {m.process}: " + ", ".join(f"{v:.0f}" for v in m.by_minute) for m in grew]
        lines += ["", "Verdict: " + ("passed" if not self.problems() else "FAILED: " + "; ".join(self.problems()))]
        return "\n".join(lines) + "\n"


def _rss_mib(processes: dict[str, int]) -> dict[str, float]:
    out = {}
    for name, pid in processes.items():
        try:
            out[name] = stack.rss_bytes(pid) / 2**20
        except OSError:
            continue
    return out


async def measure_capacity(url: str, seconds: float, mix: dict[str, float], clients: int = 32) -> float:
    """The mix's rate at which its slowest pipeline still answered all it was sent: each pipeline's answers
    a second over its share of the mix, the least of them. Counting every 200 instead let pages, refused at
    their admission bound, free their clients for cheap requests, and the soak then sent pages at their limit."""
    traffic = Traffic(url, clients, mix=mix, persist=False, seed=1)
    await traffic.run_for(seconds)
    total = sum(mix.values())
    answered = {name: sum(1 for o in traffic.outcomes if o.pipeline == name and o.status == 200) for name in mix}
    return min(answered[name] / (weight / total) for name, weight in mix.items() if weight) / seconds


async def soak(
    running: Cluster, mix: dict[str, float], rate: float, duration_s: float, warm_s: float, sample_s: float
) -> tuple:
    traffic = Traffic(running.url, clients=64, mix=mix, rate=rate, persist=False, seed=2)
    stop = asyncio.Event()
    load = asyncio.create_task(traffic.run(stop))
    samples: list[tuple[float, dict[str, float]]] = []
    started = time.monotonic()
    while time.monotonic() - started < duration_s:
        await asyncio.sleep(sample_s)
        samples.append((time.monotonic() - started, _rss_mib(running.processes())))
    stop.set()
    await load
    return traffic, samples


def _each_minute(samples: list[tuple[float, dict[str, float]]]) -> list[tuple[float, dict[str, float]]]:
    """The first sample of every whole minute."""
    seen: set[int] = set()
    out = []
    for t, sample in samples:
        if int(t // 60) not in seen:
            seen.add(int(t // 60))
            out.append((t, sample))
    return out


def memory(samples: list[tuple[float, dict[str, float]]], warm_s: float, window: int = 3) -> list[Memory]:
    """Per process: the median RSS of the `window` samples ending at the warm-up, and of the last `window`."""
    after = [s for t, s in samples if t >= warm_s]
    before = [s for t, s in samples if t < warm_s][-window:]
    if not after or not before:
        return []
    out = []
    for name in sorted(before[-1]):
        warm = [s[name] for s in before if name in s]
        end = [s[name] for s in after[-window:] if name in s]
        if warm and end:
            by_minute = [s[name] for t, s in _each_minute(samples) if name in s]
            out.append(Memory(name, statistics.median(warm), statistics.median(end), by_minute))
    return out


def run(
    repository: Path,
    workdir: Path,
    duration_s: float = 600.0,
    rate: float | None = None,
    capacity_s: float = 20.0,
    sample_s: float = 5.0,
    mix: str = DEFAULT_MIX,
    out: Path | None = paths.LOADTEST_RESULTS,
    progress: Callable[[str], None] = print,
) -> SoakReport:
    warm_s = max(60.0, duration_s / 5)
    progress("starting Redis, Triton and the front ...")
    # Both answer caches small, so that they are full (at their bound) before the warm-up ends.
    with cluster(repository, workdir, replicas=1, cache_entries=1000, triton_cache_bytes=2**20) as running:
        weights = pipeline_weights(mix)
        capacity = asyncio.run(measure_capacity(running.url, capacity_s, weights))
        target = rate or capacity / 2
        progress(f"capacity {capacity:.0f} requests/s; soaking {duration_s:g}s at {target:.0f}/s, mix {mix}")
        traffic, samples = asyncio.run(soak(running, weights, target, duration_s, warm_s, sample_s))
    seconds = [o.seconds * 1000 for o in traffic.outcomes]
    report = SoakReport(
        capacity_rps=capacity,
        rate_rps=target,
        duration_s=duration_s,
        warm_s=warm_s,
        answers=dict(traffic.statuses()),
        p50_ms=percentile(seconds, 50),
        p95_ms=percentile(seconds, 95),
        p99_ms=percentile(seconds, 99),
        memory=memory(samples, warm_s),
    )
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "soak.md").write_text(report.markdown())
        (out / "soak.json").write_text(json.dumps(asdict(report), indent=2))
    return report

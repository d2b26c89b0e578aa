"""Fraud scores with the graph in Triton's memory (journaled) against the graph shared through a Redis
stream, through the front: p50 and p95 at 1 and 32 clients, reading only and persisting every request.

    python -m finfer.loadtest.graph_latency [--seconds 10]   → loadtest/results/fraud_graph.md
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from finfer import paths
from finfer.loadtest.cluster import cluster
from finfer.loadtest.traffic import Traffic, percentile
from finfer.settings import Settings


async def _measure(url: str, clients: int, persist: bool, seconds: float, seed: int) -> tuple[float, float, float]:
    traffic = Traffic(url, clients, mix={"fraud": 1.0}, persist=persist, seed=seed)
    await traffic.run_for(seconds)
    ok = [o.seconds * 1000 for o in traffic.outcomes if o.status == 200]
    if len(ok) != len(traffic.outcomes):
        raise RuntimeError(f"{len(traffic.outcomes) - len(ok)} fraud scores failed: {traffic.messages}")
    return percentile(ok, 50), percentile(ok, 95), len(ok) / seconds


def run(repository: Path, seconds: float) -> str:
    rows = []
    for shared in (False, True):
        with tempfile.TemporaryDirectory() as workdir, cluster(repository, Path(workdir), 1, shared) as running:
            for seed, (clients, persist) in enumerate([(1, False), (1, True), (32, False), (32, True)]):
                p50, p95, rps = asyncio.run(_measure(running.url, clients, persist, seconds, seed + 10))
                rows.append((shared, clients, persist, p50, p95, rps))
    lines = [
        f"# Fraud scores: graph in memory vs shared through Redis (front, HTTP, {seconds:g} s each)",
        "",
        "| graph | clients | persist | p50 | p95 | answers/s |",
        "| --- | ---: | --- | ---: | ---: | ---: |",
    ]
    for shared, clients, persist, p50, p95, rps in rows:
        store = "Redis stream" if shared else "in memory"
        lines.append(f"| {store} | {clients} | {persist} | {p50:.1f} ms | {p95:.1f} ms | {rps:.0f} |")
    memory = {(c, p): p95 for s, c, p, _, p95, _ in rows if not s}
    ratios = [f"{p95 / memory[c, p]:.2f}×" for s, c, p, _, p95, _ in rows if s]
    lines += ["", "p95 on Redis against in memory, row by row: " + ", ".join(ratios) + " (goal ≤ 2×)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    report = run(Settings().model_repository, args.seconds)
    paths.LOADTEST_RESULTS.mkdir(parents=True, exist_ok=True)
    (paths.LOADTEST_RESULTS / "fraud_graph.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()

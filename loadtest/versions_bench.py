"""What versions side by side cost the serving path: the split, and shadow copies of every request.

A repository of its own holds the risk family twice (full profile): version 1 on the German credit data and
version 2 retrained with a tenth of the labels flipped. Three fronts on one Triton, all up at once, take the
same load in turn, round after round: version 1 alone; version 1 with version 2 as a shadow of every request;
a 90/10 split (whose candidate answers are compared with the baseline's in the background). The fronts cache
nothing (FINFER_CACHE_ENTRIES=0), so every answer and every copy reaches its model: no cache hit hides a
cost. The front's CPU per answer is the shadow's cost in the front; Triton's CPU per answer is the shadow's
own compute.

python -m finfer.loadtest.versions_bench [--duration 10] [--rounds 3]  →  loadtest/results/versions.{md,json}
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import random
import time
from pathlib import Path

import orjson

from finfer import paths
from finfer.exporters.base import BuildOptions, Profile, export, is_built
from finfer.exporters.risk import RiskExporter
from finfer.loadtest import stack
from finfer.loadtest.scenario import Result, http_sender, run_scenario
from finfer.pipelines import risk
from finfer.settings import Split

VARIANTS = {
    "version 1 alone": Split(weights={"1": 1}),
    "shadow of every request": Split(weights={"1": 1}, shadow=2),
    "split 90/10": Split(weights={"1": 90, "2": 10}),
}


def relabelled(
    source: Path,
    out: Path,
    share: float = 0.1,
    seed: int = 3,
    column: str = "creditability",
    values: tuple[str, str] = ("good", "bad"),
) -> Path:
    """`source` with `share` of its labels (`column`, one of two `values`) flipped: a retrain on other outcomes,
    with the same columns."""
    with source.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    rng = random.Random(seed)
    for row in rows:
        if rng.random() < share:
            row[column] = values[0] if row[column] == values[1] else values[1]
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out


def build_versions(repository: Path, profile: Profile, progress=print) -> None:
    """Risk versions 1 and 2 in `repository` (kept between runs)."""
    retrain = relabelled(paths.GERMAN_CREDIT_CSV, repository.parent / "relabelled.csv")
    for version, exporter in ((1, RiskExporter()), (2, RiskExporter(retrain))):
        if not is_built(exporter, repository, version):
            export(exporter, BuildOptions(out=repository, profile=profile, version=version), progress)


def assign_us(rounds: int = 20_000) -> float:
    """Microseconds of CPU to give one row its version (the codec's split key and its hash), in process."""
    from finfer.front.versions import bucket, choose

    codec = risk.PIPELINE.load(paths.STATE_DIR / "versions-bench" / "repository")
    rows = [codec.row(b) for b in risk.PIPELINE.examples(1000, 3)]
    started = time.process_time()
    for i in range(rounds):
        choose({1: 90, 2: 10}, bucket(codec.split_key(rows[i % 1000])))
    return (time.process_time() - started) / rounds * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds a scenario")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="times each variant runs, in turn with the others")
    parser.add_argument("--profile", choices=["full", "small"], default="full")
    parser.add_argument("--out", type=Path, default=paths.LOADTEST_RESULTS)
    args = parser.parse_args()
    state = paths.STATE_DIR / "versions-bench"
    repository = state / "repository"
    repository.mkdir(parents=True, exist_ok=True)
    build_versions(repository, Profile(args.profile))
    base = stack.bench_settings(repository, state).model_copy(update={"probe_interval_s": 0, "cache_entries": 0})
    results: dict[str, list[Result]] = {}
    seeds = iter(range(900, 10_000))
    with stack.triton(base) as triton, contextlib.ExitStack() as fronts:
        live = {}
        for name, split in VARIANTS.items():
            http, grpc_port = stack.free_ports(2)
            update = {"splits": {"risk": split}, "http_port": http, "grpc_port": grpc_port}
            own = base.model_copy(update=update | {"state_dir": state / name.replace(" ", "-")})
            live[name] = (own, fronts.enter_context(stack.front(own)))
        for round_ in range(args.rounds):
            for name, (own, front) in live.items():
                bodies = [orjson.dumps(b) for b in risk.PIPELINE.examples(12_000, next(seeds))]
                send = http_sender(f"http://127.0.0.1:{own.http_port}", risk.PIPELINE.http_path, bodies, args.clients)
                pids = {"front": front.pid, "triton": triton.pid}
                label = f"risk, {args.clients} clients, round {round_ + 1}"
                results.setdefault(name, []).append(run_scenario(name, label, send, args.clients, args.duration, pids))
        shadowed = live["shadow of every request"][0]
        agreement = comparisons(f"http://127.0.0.1:{shadowed.http_port}/metrics")
    write(args.out, results, assign_us(), agreement, args)
    return 0


def comparisons(metrics_url: str) -> dict[str, float]:
    """The shadow front's comparisons of version 2 with version 1, by agreement on the grade."""
    return {a: stack.metric(metrics_url, "finfer_comparisons_total", agreement=a) for a in ("agree", "disagree")}


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def write(out: Path, results: dict[str, list[Result]], assign: float, agreement: dict[str, float], args) -> None:
    out.mkdir(parents=True, exist_ok=True)
    data = {
        "runs": {k: [r.as_json() for r in v] for k, v in results.items()},
        "assign_us": assign,
        "shadow_comparisons": agreement,
        "duration_s": args.duration,
        "rounds": args.rounds,
        "clients": args.clients,
        "profile": args.profile,
    }
    (out / "versions.json").write_text(json.dumps(data, indent=2))
    lines = [
        "# What versions side by side cost",
        "",
        f"`python -m finfer.loadtest.versions_bench --duration {args.duration:g} --rounds {args.rounds}` on this",
        f"machine (2 cores, no GPU): risk versions 1 and 2 ({args.profile} profile) on one embedded Triton, one front",
        f"a variant, all up at once, caching nothing, {args.clients} clients sent to each in",
        "turn, round after round.",
        "",
        "| front | run | answers/s | p50 ms | p95 ms | errors | front CPU µs/answer | Triton CPU µs/answer |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, runs in results.items():
        for r in runs:
            cpu = r.cpu_us_per_request
            lines.append(
                f"| {name} | {r.description.rsplit(', ', 1)[1]} | {r.requests_per_s:.0f} | {r.p50_ms:.1f} "
                f"| {r.p95_ms:.1f} | {r.errors} | {cpu.get('front', 0):.0f} | {cpu.get('triton', 0):.0f} |"
            )
    lines += ["", "Medians over the rounds:", ""]
    lines += ["| front | answers/s | front CPU µs/answer | Triton CPU µs/answer |", "| --- | ---: | ---: | ---: |"]
    for name, runs in results.items():
        rate = median([r.requests_per_s for r in runs])
        front = median([r.cpu_us_per_request.get("front", 0) for r in runs])
        triton = median([r.cpu_us_per_request.get("triton", 0) for r in runs])
        lines.append(f"| {name} | {rate:.0f} | {front:.0f} | {triton:.0f} |")
    lines += ["", f"Giving one row its version (split key and hash), in process: **{assign:.2f} µs** of CPU."]
    compared = sum(agreement.values())
    if compared:
        share = agreement["disagree"] / compared
        lines += [
            "",
            f"The shadow compared {compared:,.0f} answers: version 2 gave another grade than version 1 to "
            f"**{share:.1%}** of them.",
        ]
    (out / "versions.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())

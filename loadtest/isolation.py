"""`finfer loadtest --scenario isolation`: do light requests keep their latency while heavy ones run?

Two Locust runs of the light pipelines at the same fixed rate: first alone, then while a second Locust process
saturates the machine with heavy requests (applications with a page and a photo, OCR, damage photos). The
report sets each light route's p50/p95 beside its own figures alone, against the bounds of docs/isolation.md,
and counts the heavy requests that admission control refused (503 with Retry-After) or that failed otherwise.

The heavy Locust process runs at nice 10: it stands for dealers' systems on other machines, and its own work
(building megabyte bodies) must not take the cores the light run measures on a one-machine test.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from finfer.loadtest.run import final_stats, locust_command, print_table, summarise
from finfer.pipelines.registry import REGISTRY

LIGHT_MIX = "risk=4,fraud=2,intent=3"
HEAVY_MIX = "application=2,documents=1,damage=1"
# A light route's p95 beside the heavy traffic may be this many times its p95 alone.
P95_BOUND = {"risk": 2.0, "fraud": 2.5, "intent": 2.5}
LIGHT_USERS = 6
HEAVY_NICE = 10
HEAVY_STOP_TIMEOUT_S = 30
HEAVY_START_S = 120.0  # the most the heavy users may take to start (they render their pages and photos first)
SETTLE_S = 3.0  # heavy work under way, Triton's queues fill before the light run starts


@dataclass
class LightRoute:
    pipeline: str
    route: str
    alone_p50_ms: float
    alone_p95_ms: float
    beside_p50_ms: float
    beside_p95_ms: float
    requests: int
    failures: int
    bound: float

    @property
    def ratio(self) -> float:
        return self.beside_p95_ms / max(self.alone_p95_ms, 1.0)

    @property
    def held(self) -> bool:
        return self.failures == 0 and self.ratio <= self.bound


def _seconds(duration: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return float(duration[:-1]) * units[duration[-1]] if duration[-1] in units else float(duration)


def _run(args: argparse.Namespace, out: Path, **overrides: object) -> list[str]:
    run = argparse.Namespace(**(vars(args) | overrides))
    out.mkdir(parents=True, exist_ok=True)
    return locust_command(run, out / "locust")


def _rows(out: Path) -> dict[str, dict[str, str]]:
    stats = final_stats(out / "locust")
    if not stats.exists():
        raise RuntimeError(f"Locust wrote no statistics in {out}; see its output above")
    return {row["Name"]: row for row in summarise(stats) if row["Name"] != "Aggregated"}


def _pipeline_of(route: str) -> str | None:
    for p in REGISTRY:
        if route in (p.http_path, f"/finfer.v1.{p.grpc_service}/{p.grpc_method}"):
            return p.name
    return None


def _heavy_in_flight(host: str) -> float:
    """Heavy requests the front has let in (finfer_admission_in_flight, all pipelines)."""
    with urllib.request.urlopen(f"{host}/metrics", timeout=5) as response:
        lines = response.read().decode().splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("finfer_admission_in_flight{"))


def _wait_for_heavy_work(host: str, heavy: subprocess.Popen) -> None:
    deadline = time.monotonic() + HEAVY_START_S
    while time.monotonic() < deadline and heavy.poll() is None:
        if _heavy_in_flight(host) > 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"the heavy users sent nothing the front let in within {HEAVY_START_S:g} s")


def light_routes(alone: dict[str, dict[str, str]], beside: dict[str, dict[str, str]]) -> list[LightRoute]:
    out = []
    for route, row in beside.items():
        pipeline = _pipeline_of(route)
        if pipeline not in P95_BOUND or route not in alone:
            continue
        before = alone[route]
        out.append(
            LightRoute(
                pipeline=pipeline,
                route=route,
                alone_p50_ms=float(before["50%"]),
                alone_p95_ms=float(before["95%"]),
                beside_p50_ms=float(row["50%"]),
                beside_p95_ms=float(row["95%"]),
                requests=int(row["Request Count"]),
                failures=int(row["Failure Count"]) + int(before["Failure Count"]),
                bound=P95_BOUND[pipeline],
            )
        )
    return out


def render(routes: list[LightRoute], heavy: dict[str, dict[str, str]], args: argparse.Namespace) -> str:
    lines = [
        "# Isolation: light requests beside heavy ones",
        "",
        f"`finfer loadtest --scenario isolation --light-rate {args.light_rate:g} --users {args.users} "
        f"--duration {args.duration}`: the light mix `{LIGHT_MIX}` at {args.light_rate:g} requests/s, alone and then "
        f"beside {args.users} heavy users (`{HEAVY_MIX}`, applications with a page and a photo).",
        "",
        "| route | p50 alone | p95 alone | p50 beside | p95 beside | p95 ratio | bound | requests | failures | |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in routes:
        lines.append(
            f"| {r.route} | {r.alone_p50_ms:g} ms | {r.alone_p95_ms:g} ms | {r.beside_p50_ms:g} ms | "
            f"{r.beside_p95_ms:g} ms | {r.ratio:.2f} | {r.bound:g} | {r.requests} | {r.failures} | "
            f"{'held' if r.held else 'NOT HELD'} |"
        )
    lines += ["", "| heavy route | requests | failures | p50 | p95 |", "| --- | ---: | ---: | ---: | ---: |"]
    for route, row in heavy.items():
        lines.append(
            f"| {route} | {row['Request Count']} | {row['Failure Count']} | {row['50%']} ms | {row['95%']} ms |"
        )
    return "\n".join(lines) + "\n"


def run_isolation(args: argparse.Namespace) -> int:
    light = {
        "mix": LIGHT_MIX,
        "users": LIGHT_USERS,
        "spawn_rate": LIGHT_USERS,
        "user_rate": args.light_rate / LIGHT_USERS,
    }
    print(f"isolation 1/2: the light mix alone at {args.light_rate:g} requests/s for {args.duration}", flush=True)
    code = subprocess.call(_run(args, args.out / "light_alone", **light))
    alone = _rows(args.out / "light_alone")

    print(f"isolation 2/2: the same beside {args.users} heavy users (nice {HEAVY_NICE})", flush=True)
    heavy_run = _seconds(args.duration) + HEAVY_START_S + SETTLE_S
    heavy_command = _run(
        args,
        args.out / "heavy",
        mix=HEAVY_MIX,
        duration=f"{heavy_run:g}s",
        application_shape="images",
        spawn_rate=args.users,
        # Its last requests are let finish (a page can wait seconds in the admission queue): a user stopped
        # mid-request counts a closed connection as a failure.
        stop_timeout=HEAVY_STOP_TIMEOUT_S,
    )
    heavy_process = subprocess.Popen(heavy_command, preexec_fn=lambda: os.nice(HEAVY_NICE))
    try:
        _wait_for_heavy_work(args.host, heavy_process)
        time.sleep(SETTLE_S)
        code = subprocess.call(_run(args, args.out / "light_beside", **light)) or code
    finally:
        heavy_process.send_signal(signal.SIGTERM)  # Locust stops its users, lets them finish, writes its numbers
        code = heavy_process.wait(timeout=HEAVY_STOP_TIMEOUT_S + 60) or code
    routes = light_routes(alone, _rows(args.out / "light_beside"))
    heavy = _rows(args.out / "heavy")

    print("\nlight, alone:")
    print_table(list(alone.values()))
    print("\nheavy:")
    print_table(list(heavy.values()))
    report = render(routes, heavy, args)
    (args.out / "isolation.md").write_text(report)
    (args.out / "isolation.json").write_text(
        json.dumps(
            {"light": [asdict(r) | {"ratio": r.ratio, "held": r.held} for r in routes], "heavy": heavy}, indent=2
        )
    )
    print("\n" + report)
    print(f"report: {args.out / 'isolation.md'}", file=sys.stderr)
    return code

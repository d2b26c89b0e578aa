"""What the decision store and access control cost the serving path.

Recording: loan applications (credit file, fraud links, a message) at 1 and 32 clients through fronts that
differ only in the store: none (FINFER_RECORD_DECISIONS=false), SQLite, PostgreSQL; the store-less front runs
first and last, so that drift over the run shows. Access control: the CPU one `Guard.check` takes, in process,
and the front's CPU per request on cache hits (the cheapest route, where the check weighs most) with keys
required and not.

python -m finfer.loadtest.records_bench [--duration 15]  →  loadtest/results/records.{md,json}
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import time
from pathlib import Path

import orjson

from finfer import paths
from finfer.access import keys
from finfer.access.guard import Guard
from finfer.application.examples import applications
from finfer.loadtest import stack
from finfer.loadtest.scenario import Result, http_sender, run_scenario
from finfer.pipelines import application, risk
from finfer.settings import Settings
from finfer.store.database import connect, migrate


def guard_check_us(rounds: int = 200_000) -> float:
    """Microseconds of one check with 100 keys known, one of them rate-limited: parse, look up, hash, scope, bucket."""
    guard = Guard(True)
    known = {}
    for i in range(100):
        secret = f"{i:040d}"
        record = keys.KeyRecord(
            f"{i:012d}", f"key-{i}", keys.secret_digest(secret), frozenset({"risk"}), None, None, "", None
        )
        known[record.key_id] = record
    limited = dataclasses.replace(known[f"{7:012d}"], rate_per_s=1e9, burst=10**9)
    known[limited.key_id] = limited
    guard.replace(known)
    header = f"Bearer fk_{7:012d}_{7:040d}"
    started = time.process_time()
    for _ in range(rounds):
        guard.check(header, ("risk",))
    return (time.process_time() - started) / rounds * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds a scenario")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="times each variant runs, in turn with the others")
    parser.add_argument("--out", type=Path, default=paths.LOADTEST_RESULTS)
    args = parser.parse_args()
    repository = Settings().model_repository
    state = paths.STATE_DIR / "records-bench"
    state.mkdir(parents=True, exist_ok=True)
    base = stack.bench_settings(repository, state)
    results: dict[str, list[Result]] = {}
    seeds = iter(range(800, 10_000))
    with stack.triton(base) as triton, stack.PostgresServer() as postgres, contextlib.ExitStack() as fronts:
        variants = {
            "no store": {"record_decisions": False},
            "SQLite": {},
            "PostgreSQL": {"database_url": postgres.create_database("bench")},
        }
        # Every front up at once, the load sent to each in turn, round after round: the box's drift over the
        # run falls on every variant alike.
        live = {}
        for name, update in variants.items():
            http, grpc_port = stack.free_ports(2)
            own = base.model_copy(
                update={
                    **update,
                    "http_port": http,
                    "grpc_port": grpc_port,
                    "state_dir": state / name.replace(" ", "-"),
                }
            )
            live[name] = (own, fronts.enter_context(stack.front(own)))
        for round_ in range(args.rounds):
            for clients in (1, args.clients) if round_ == 0 else (args.clients,):
                for name, (own, front) in live.items():
                    url = f"http://127.0.0.1:{own.http_port}"
                    bodies = [orjson.dumps(b) for b in applications(4_000, next(seeds), "plain")]
                    send = http_sender(url, application.PIPELINE.http_path, bodies, clients)
                    pids = {"front": front.pid, "triton": triton.pid}
                    label = f"applications, {clients} clients, round {round_ + 1}"
                    results.setdefault(name, []).append(run_scenario(name, label, send, clients, args.duration, pids))

        access: dict[str, Result] = {}
        hot = [orjson.dumps(b) for b in risk.PIPELINE.examples(512, 5)]
        for name, update in (
            ("keys not required, no drift", {"auth": "off", "drift_window": 0}),
            ("keys required, no drift", {"auth": "on", "drift_window": 0}),
            ("keys not required, drift on", {"auth": "off"}),
        ):
            own = base.model_copy(update={**update, "state_dir": state / name.replace(" ", "-").replace(",", "")})
            key = None
            if own.auth == "on":
                engine = connect(own)
                migrate(engine)
                key = keys.create(engine, "bench", ["risk"])[1]
                engine.dispose()
            with stack.front(own) as front:
                url = f"http://127.0.0.1:{own.http_port}"
                send = http_sender(url, risk.PIPELINE.http_path, hot, args.clients, key)
                pids = {"front": front.pid, "triton": triton.pid}
                access[name] = run_scenario(name, "risk cache hits", send, args.clients, args.duration, pids)
    check_us = guard_check_us()
    write(args.out, results, access, {"guard_check_us": check_us, "drift_observe_us": drift_observe_us()}, args)
    return 0


def drift_observe_us(rounds: int = 50_000) -> float:
    """Microseconds of counting one risk request in its drift windows (20 fields and the output), in process."""
    from finfer.front.drift import DriftMonitor

    repository = Settings().model_repository
    codec = risk.PIPELINE.load(repository)
    monitor = DriftMonitor.load("risk", repository / risk.PIPELINE.meta, 2000, 100)
    if monitor is None:
        return float("nan")
    rows = [codec.row(b) for b in risk.PIPELINE.examples(1000, 3)]
    started = time.process_time()
    for i in range(rounds):
        monitor.observe(codec.drift_inputs(rows[i % 1000]), {"probability_of_default": 0.2})
    return (time.process_time() - started) / rounds * 1e6


def write(out: Path, results: dict[str, list[Result]], access: dict[str, Result], micro: dict, args) -> None:
    out.mkdir(parents=True, exist_ok=True)
    data = {
        "recording": {k: [r.as_json() for r in v] for k, v in results.items()},
        "access": {k: r.as_json() for k, r in access.items()},
        **micro,
        "duration_s": args.duration,
        "rounds": args.rounds,
        "clients": args.clients,
    }
    (out / "records.json").write_text(json.dumps(data, indent=2))
    lines = [
        "# What recording decisions and checking keys cost",
        "",
        f"`python -m finfer.loadtest.records_bench --duration {args.duration:g} --rounds {args.rounds}`",
        "on this machine",
        "(2 cores, no GPU), full-profile repository, one embedded Triton; every variant is its own front process,",
        "all up at once, the load sent to each in turn, round after round.",
        "",
        "## Recording (loan applications without images)",
        "",
        "| store | run | answers/s | p50 ms | p95 ms | errors | front CPU µs/answer |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, runs in results.items():
        for r in runs:
            clients = r.description.removeprefix("applications, ")
            cpu = r.cpu_us_per_request.get("front", 0)
            row = f"| {name} | {clients} | {r.requests_per_s:.1f} | {r.p50_ms:.1f} | {r.p95_ms:.1f} | {r.errors} "
            lines.append(row + f"| {cpu:.0f} |")
    loaded = {
        name: [r.requests_per_s for r in runs if "round" in r.description and " 1 clients" not in r.description]
        for name, runs in results.items()
    }
    median = {name: sorted(v)[len(v) // 2] for name, v in loaded.items() if v}
    lines += ["", f"Median answers/s at {args.clients} clients over the rounds:"]
    lines += [f"- {name}: {value:.1f}" for name, value in median.items()]
    lines += [
        "",
        "## Access control and drift accounting",
        "",
        f"One `Guard.check` in process (100 keys, a rate-limited one): **{micro['guard_check_us']:.2f} µs** of CPU.",
        f"One risk request counted in its drift windows, in process: **{micro['drift_observe_us']:.2f} µs** of CPU.",
        "",
        "| front | answers/s | p50 ms | front CPU µs/answer |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, r in access.items():
        lines.append(
            f"| {name} | {r.requests_per_s:.0f} | {r.p50_ms:.2f} | {r.cpu_us_per_request.get('front', 0):.0f} |"
        )
    (out / "records.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())

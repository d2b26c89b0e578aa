"""`finfer loadtest`: Locust headless against the front, then a summary of its CSV."""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from pathlib import Path

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
USERS = {"http": ["HttpUser"], "grpc": ["GrpcUser"], "both": ["HttpUser", "GrpcUser"]}


def locust_command(args: argparse.Namespace, prefix: Path) -> list[str]:
    """Locust headless with `args`' users, mix and pacing; its CSV files start with `prefix`."""
    return [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--users",
        str(args.users),
        "--spawn-rate",
        str(args.spawn_rate),
        "--run-time",
        args.duration,
        "--host",
        args.host,
        "--grpc-host",
        args.grpc_host,
        "--mix",
        args.mix,
        "--user-rate",
        str(getattr(args, "user_rate", 0.0)),
        "--application-shape",
        getattr(args, "application_shape", "mix"),
        "--csv",
        str(prefix),
        "--html",
        str(prefix.with_name("report.html")),
        "--only-summary",
        "--stop-timeout",
        str(getattr(args, "stop_timeout", 5)),
        # The run's numbers start once every user is up: starting one makes its request bodies (seconds, for
        # pages and photos) in the process that times the others' answers.
        "--reset-stats",
        *USERS[args.protocol],
    ]


def summarise(stats_csv: Path) -> list[dict[str, str]]:
    with stats_csv.open(newline="") as handle:
        return list(csv.DictReader(handle))


def final_stats(prefix: Path) -> Path:
    """The run's final statistics, written at quit by the locustfile (FINAL_STATS)."""
    return prefix.with_name(prefix.name + "_final_stats.csv")


def print_table(rows: list[dict[str, str]]) -> None:
    print(f"{'name':42} {'requests':>9} {'fails':>6} {'req/s':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}")
    for row in rows:
        print(
            f"{(row['Type'] + ' ' + row['Name'])[:42]:42} {row['Request Count']:>9} {row['Failure Count']:>6} "
            f"{float(row['Requests/s']):8.1f} {row['50%']:>7} {row['95%']:>7} {row['99%']:>7}"
        )


def run_locust(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    prefix = args.out / "locust"
    print(
        f"Locust: {args.users} users ({args.protocol}) for {args.duration} against {args.host} / {args.grpc_host}",
        flush=True,
    )
    code = subprocess.call(locust_command(args, prefix))
    stats = final_stats(prefix)
    if not stats.exists():
        print("error: Locust wrote no statistics; see its output above", file=sys.stderr)
        return code or 1
    print()
    print_table(summarise(stats))
    print(f"\nreport: {prefix.with_name('report.html')}  CSV: {stats}")
    return code

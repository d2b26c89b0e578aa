"""`finfer loans rescore`: a portfolio's month of statements through the front, with progress and an ETA."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def add_commands(sub: argparse._SubParsersAction) -> None:
    loans = sub.add_parser("loans", help="loans in servicing")
    loans_sub = loans.add_subparsers(dest="loans_command", required=True)
    rescore = loans_sub.add_parser(
        "rescore", help="send a file of statements in batches and write every loan's updated score (idempotent)"
    )
    columns = "loan_id, statement_id, period, balance, paid, status [, message_intent] [, limit, age, education]"
    rescore.add_argument("--file", type=Path, required=True, help=f"CSV: {columns} (origination opens the loans)")
    rescore.add_argument("--url", default="http://127.0.0.1:8080", help="the front")
    rescore.add_argument("--api-key", help="a key with the loans scope (where access control is on)")
    rescore.add_argument("--out", type=Path, default=Path("scores.csv"), help="one row a statement")
    rescore.add_argument("--batch", type=int, default=256, help="statements a request")
    rescore.add_argument("--concurrency", type=int, default=2, help="requests at once")
    rescore.set_defaults(func=cmd_rescore)


def cmd_rescore(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from finfer.loans.rescore import Front, RescoreError, read_statements, rescore

    try:
        portfolio = read_statements(args.file)
        total = len(portfolio.statements)
        started = time.monotonic()
        if sys.stdout.isatty():
            columns = (TextColumn("rescoring"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
            with Progress(*columns) as progress:
                task = progress.add_task("statements", total=total)
                scored, refused = rescore(
                    Front(args.url, args.api_key),
                    portfolio,
                    args.out,
                    args.batch,
                    args.concurrency,
                    lambda n: progress.advance(task, n),
                )
        else:
            done = [0, 0.0]

            def advanced(n: int) -> None:
                done[0] += n
                now = time.monotonic()
                if now - done[1] >= 2 or done[0] == total:
                    rate = done[0] / max(now - started, 1e-9)
                    eta = (total - done[0]) / rate if rate else 0
                    print(f"rescore: {done[0]}/{total} statements, {rate:.0f}/s, about {eta:.0f} s left", flush=True)
                    done[1] = now

            scored, refused = rescore(
                Front(args.url, args.api_key), portfolio, args.out, args.batch, args.concurrency, advanced
            )
    except RescoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    seconds = time.monotonic() - started
    print(
        f"rescore: {scored} statements scored, {refused} refused, in {seconds:.1f} s "
        f"({total / max(seconds, 1e-9):.0f}/s); written to {args.out}",
        flush=True,
    )
    return 1 if refused else 0

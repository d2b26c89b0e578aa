"""The `finfer` command line: build, serve, score, loadtest, bench, and the back office's commands.

Each command group registers its own subcommands (serving.py, load.py, office.py); a command imports what it
needs when it runs, so `finfer --help` stays fast.
"""

from __future__ import annotations

import argparse
import os

# Before gRPC is first imported: no command uses gRPC in a forked child (each child execs at once), and with
# fork support on, gRPC logs a line at every fork (one a family that `finfer serve` builds while serving).
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")

from finfer.cli import load, loans, office, serving  # noqa: E402

GROUPS = (serving, load, office, loans)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="finfer", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_commands(sub)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)

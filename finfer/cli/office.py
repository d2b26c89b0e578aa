"""`finfer keys`, `audit verify`, `labels export`, `drift report` and `graph compact`: the back office's commands."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # heavy imports stay out of `finfer --help`
    pass


@contextlib.contextmanager
def _store_engine() -> Iterator[Any]:
    """The decision store's database as the front would open it (FINFER_* settings), migrated, and disposed of
    after; one that cannot be opened ends the command with the front's message (exit 2), not a traceback."""
    from finfer.server import StartupError, open_store
    from finfer.settings import Settings

    try:
        engine = open_store(Settings())
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    try:
        yield engine
    finally:
        engine.dispose()


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def cmd_keys(args: argparse.Namespace) -> int:
    from finfer.errors import FrontError

    with _store_engine() as engine:
        try:
            return _keys(args, engine)
        except FrontError as exc:
            return _fail(exc.message)


def _keys(args: argparse.Namespace, engine: Any) -> int:
    """create, list or revoke; a refusal (bad scope, unknown id) is a FrontError naming the field."""
    from finfer.access import keys

    if args.keys_command == "create":
        scopes = [s for part in args.scopes for s in part.replace(",", " ").split()]
        record, token = keys.create(engine, args.name, scopes, args.rate, args.burst)
        print(token)
        limit = f", {record.rate_per_s:g}/s burst {record.burst}" if record.rate_per_s else ""
        print(
            f"key {record.key_id} ({record.name}: {' '.join(sorted(record.scopes))}{limit}); "
            "shown once: only its hash is kept",
            file=sys.stderr,
        )
    elif args.keys_command == "list":
        print(f"{'key_id':14}{'name':24}{'created':22}{'revoked':22}scopes (rate/s)")
        for record in keys.listed(engine):
            rate = f" ({record.rate_per_s:g}/s)" if record.rate_per_s else ""
            revoked = (record.revoked_at or "-")[:19]
            scopes = " ".join(sorted(record.scopes))
            print(f"{record.key_id:14}{record.name:24}{record.created_at[:19]:22}{revoked:22}{scopes}{rate}")
    else:
        record = keys.revoke(engine, args.key_id)
        print(f"key {record.key_id} ({record.name}) revoked at {record.revoked_at}")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from finfer.store.decisions import DecisionStore

    with _store_engine() as engine:
        store = DecisionStore(engine)
        checked, broken = store.verify()
        if broken is not None:
            print(f"audit chain BROKEN after {checked} good records: {broken}", file=sys.stderr)
            return 1
        seq, digest = store.head()
    print(f"audit chain intact: {checked} records; head {seq} {digest}")
    return 0


def cmd_labels_export(args: argparse.Namespace) -> int:
    from datetime import date

    from finfer.store.decisions import DecisionStore
    from finfer.store.labels import POSITIVE, TARGET, export_labels

    try:
        since = date.fromisoformat(args.since).isoformat()
    except ValueError:
        return _fail(f"--since: {args.since!r} is not a date (YYYY-MM-DD)")
    with _store_engine() as engine:
        count = export_labels(DecisionStore(engine), since, args.out)
    print(f"{count} reviewed cases since {since} → {args.out}")
    print(
        f"train on them: finfer build --family risk --force --csv {args.out} "
        f"--target {TARGET} --positive-label {POSITIVE}"
    )
    return 0


def cmd_drift_report(args: argparse.Namespace) -> int:
    from finfer import drift_report
    from finfer.settings import Settings

    if args.requests:
        lines = args.requests.read_text(encoding="utf-8").splitlines()
        windows = drift_report.from_requests(Settings().model_repository, args.pipeline, lines, max(len(lines), 1))
    else:
        windows = drift_report.from_front(args.url.rstrip("/"), args.api_key)
    if not windows:
        return _fail("the front keeps no drift window (FINFER_DRIFT_WINDOW=0, or no model card has a reference)")
    args.out.write_text(drift_report.render(windows), encoding="utf-8")
    for pipeline, snapshot in windows.items():
        views = {**snapshot["inputs"], **snapshot["outputs"]}
        drifted = sorted((v["psi"], k) for k, v in views.items() if v["psi"] >= drift_report.WARN)
        names = ", ".join(f"{k} {psi:.2f}" for psi, k in reversed(drifted)) or "none"
        print(f"{pipeline}: drifted (PSI ≥ {drift_report.WARN}): {names}")
    print(f"report: {args.out}")
    return 0


def cmd_graph_compact(args: argparse.Namespace) -> int:
    import time

    from finfer.models.fraud.graph import InMemoryGraph
    from finfer.models.fraud.graph_redis import GraphUnavailable, RedisLog
    from finfer.models.fraud.scoring import FraudConfig
    from finfer.pipelines import fraud
    from finfer.settings import Settings

    settings = Settings()
    url = args.url or settings.fraud_graph_url
    if not url:
        return _fail("no shared fraud graph: set FINFER_FRAUD_GRAPH_URL (or --url redis://host:6379/0)")
    version_dir = settings.model_repository / fraud.PIPELINE.triton_model / "1"
    if not (version_dir / "graph.npz").exists():
        return _fail(f"{version_dir / 'graph.npz'} is missing: run `finfer build --family fraud` first")
    started = time.perf_counter()
    config = FraudConfig.load(version_dir / "meta.json")
    store = InMemoryGraph.load(version_dir / "graph.npz")
    log = RedisLog.connect(url, config.model_version, timeout_s=args.timeout_s)
    try:
        folded = store.attach_log(log)
        print(f"fraud graph {config.model_version}: {store.size:,} applications after folding {folded:,} entries")
        done = log.compact(store)
    except GraphUnavailable as exc:
        return _fail(str(exc))
    if done is None:
        print("nothing to compact: the stream is empty, or another compaction is as recent")
        return 0
    print(
        f"snapshot through entry {done.through} ({done.entries:,} entries since the shipped graph, "
        f"{done.snapshot_bytes / 1e6:.1f} MB); {done.trimmed:,} entries trimmed from the stream "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    from finfer.access.keys import SCOPES

    keys = sub.add_parser("keys", help="API keys: create (shown once), list, revoke")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="make a key and print it once (only its hash is stored)")
    create.add_argument("--name", required=True, help="who holds it: what metrics and reviews are recorded under")
    create.add_argument("--scopes", required=True, nargs="+", help=f"any of: {' '.join(SCOPES)}")
    create.add_argument("--rate", type=float, help="requests a second allowed (default: no limit)")
    create.add_argument("--burst", type=int, help="requests allowed at once above the rate (default: the rate)")
    create.set_defaults(func=cmd_keys)
    keys_sub.add_parser("list", help="every key: id, name, scopes, created, revoked").set_defaults(func=cmd_keys)
    revoke = keys_sub.add_parser("revoke", help="revoke a key by id (the front refuses it within a second)")
    revoke.add_argument("key_id")
    revoke.set_defaults(func=cmd_keys)

    audit = sub.add_parser("audit", help="the decision records' audit chain")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    audit_sub.add_parser(
        "verify", help="walk the chain; name the first record changed, removed or reordered (exit 1)"
    ).set_defaults(func=cmd_audit_verify)

    labels = sub.add_parser("labels", help="reviewed outcomes as training labels")
    labels_sub = labels.add_subparsers(dest="labels_command", required=True)
    export = labels_sub.add_parser("export", help="reviewed cases' credit files and outcomes as a CSV for --csv")
    export.add_argument("--since", required=True, help="cases resolved on or after this date (YYYY-MM-DD, UTC)")
    export.add_argument("--out", type=Path, default=Path("labels.csv"))
    export.set_defaults(func=cmd_labels_export)

    graph = sub.add_parser("graph", help="the fraud graph shared by Triton replicas")
    graph_sub = graph.add_subparsers(dest="graph_command", required=True)
    compact = graph_sub.add_parser(
        "compact", help="fold the graph's Redis stream into a snapshot every replica loads, then trim the stream"
    )
    compact.add_argument("--url", help="the graph's Redis (default: FINFER_FRAUD_GRAPH_URL)")
    compact.add_argument("--timeout-s", type=float, default=10.0, help="for each Redis call (a snapshot is MBs)")
    compact.set_defaults(func=cmd_graph_compact)

    drift = sub.add_parser("drift", help="input and output drift against the training data")
    drift_sub = drift.add_subparsers(dest="drift_command", required=True)
    report = drift_sub.add_parser("report", help="an HTML report with a plot per drifted field")
    report.add_argument("--url", default="http://127.0.0.1:8080", help="the front whose window to read")
    report.add_argument("--api-key", help="a key with the admin scope (where access control is on)")
    report.add_argument("--requests", type=Path, help="instead: a file of request bodies, one JSON a line")
    report.add_argument("--pipeline", default="risk", help="with --requests: whose requests they are")
    report.add_argument("--out", type=Path, default=Path("drift-report.html"))
    report.set_defaults(func=cmd_drift_report)

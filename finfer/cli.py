"""The `finfer` command line: build, serve, score, loadtest, bench."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finfer import paths

if TYPE_CHECKING:  # heavy imports stay out of `finfer --help`
    from finfer.exporters.base import BuildOptions, Exporter


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def build(options: BuildOptions, exporters: list[Exporter]) -> None:
    """Export each family into `options.out`, skipping those already built unless forced."""
    from finfer.exporters.base import export, is_built

    for exporter in exporters:
        if is_built(exporter, options.out, options.version) and not options.force:
            what = "" if options.version == 1 else f"version {options.version} "
            _progress(f"[{exporter.family}] {what}already built in {options.out} (use --force to rebuild)")
            continue
        card = export(exporter, options, _progress)
        quality = card.get("quality", {})
        if "ring_recall_gain" in quality:
            _progress(
                f"[{exporter.family}] held-out rings: GNN PR AUC {quality['gnn']['pr_auc']:.3f} vs tabular "
                f"{quality['baseline']['pr_auc']:.3f}; ring recall at the tabular model's precision "
                f"×{quality['ring_recall_gain']:.2f}"
            )
        if "cv_roc_auc" in quality:
            _progress(
                f"[{exporter.family}] {quality['cv_folds']}-fold CV ROC AUC {quality['cv_roc_auc']:.3f}, "
                f"Brier {quality['cv_brier']:.3f}"
            )


def cmd_build(args: argparse.Namespace) -> int:
    from finfer.exporters.base import BuildOptions, Profile, VersionError
    from finfer.exporters.damage import DamageExporter
    from finfer.exporters.model_config import Flavour
    from finfer.exporters.risk import RiskExporter
    from finfer.pipelines import BY_FAMILY

    flavour = Flavour(args.flavour)
    out = args.out or (
        paths.MODEL_REPOSITORY if flavour is Flavour.EMBEDDED else paths.PROJECT_ROOT / "build" / str(flavour)
    )
    options = BuildOptions(
        out=out,
        flavour=flavour,
        profile=Profile(args.profile),
        dynamic_batching=not args.no_dynamic_batching,
        tensorrt=args.tensorrt,
        force=args.force,
        version=args.version,
    )
    if args.version != 1 and len(args.family or ()) != 1:
        print("error: --version: name the one family it is a version of (--family risk)", file=sys.stderr)
        return 2
    from finfer.exporters.application import ApplicationExporter

    custom = {
        "risk": (lambda: RiskExporter(Path(args.csv), args.target, args.positive_label)) if args.csv else None,
        "damage": (lambda: DamageExporter(args.damage_checkpoint)) if args.damage_checkpoint else None,
        "application": (lambda: ApplicationExporter(args.policy)) if args.policy else None,
    }
    families = args.family or list(BY_FAMILY)
    exporters = [(custom.get(family) or BY_FAMILY[family].make_exporter)() for family in families]
    try:
        build(options, exporters)
    except VersionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from finfer.application.policy import PolicyError
    from finfer.exporters.application import install_policy, read_policy
    from finfer.exporters.base import BuildOptions, Profile
    from finfer.front import metrics
    from finfer.pipelines import REGISTRY, application
    from finfer.server import run
    from finfer.settings import Settings
    from finfer.triton_server import RestartBudget, Supervisor, TritonError, TritonServer, replica_settings

    settings = Settings()
    try:
        replicas = replica_settings(settings, args.replicas)
    except ValueError as exc:
        print(f"error: --replicas: {exc}", file=sys.stderr)
        return 2
    if len(replicas) > 1 and not settings.fraud_graph_url:
        # Each replica would keep its own fraud graph: an application persisted through one, unseen by the other.
        print(
            "error: --replicas above 1 needs the shared fraud graph: set FINFER_FRAUD_GRAPH_URL=redis://host:6379/1 "
            "(a Redis that persists: appendonly yes)",
            file=sys.stderr,
        )
        return 2
    if not args.no_build:
        options = BuildOptions(out=settings.model_repository, profile=Profile(args.profile))
        build(options, [pipeline.make_exporter() for pipeline in REGISTRY])
    served = settings.model_repository / application.PIPELINE.meta
    try:
        policy = install_policy(settings.model_repository, args.policy) if args.policy else read_policy(served)[0]
    except (PolicyError, FileNotFoundError) as exc:
        print(f"error: policy {args.policy or served}: {exc}", file=sys.stderr)
        return 2
    _progress(f"decision policy {policy.version} ({args.policy or served})")
    budget = RestartBudget(
        settings.triton_max_restarts, settings.triton_restart_window_s, settings.triton_restart_backoff_s
    )
    started: list[tuple[TritonServer, Supervisor]] = []
    try:
        for i, own in enumerate(replicas):
            log = own.state_dir / ("triton.log" if i == 0 else f"triton-{i}.log")
            triton = TritonServer(own, log_path=log)
            triton.start(_progress)
            started.append((triton, Supervisor(triton, budget, metrics.TRITON_RESTARTS.inc, _progress)))
        for triton, supervisor in started:
            triton.wait_ready(progress=_progress)
            supervisor.start()
        if settings.triton_urls is None:
            settings = settings.model_copy(update={"triton_urls": ",".join(r.triton_grpc_url for r in replicas)})
        by_address = {triton.settings.triton_grpc_url: triton for triton, _ in started}

        def restart(address: str) -> None:
            # A stub that will not reload: kill that Triton, and its supervisor starts a fresh one.
            if address in by_address and by_address[address].running:
                _progress(f"restarting Triton {address}: a dead stub would not reload")
                os.kill(by_address[address].pid, signal.SIGKILL)

        run(settings, restart)
    except TritonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        _progress("stopping Triton")
        for triton, supervisor in started:
            supervisor.stop()
            triton.stop()
    return 0


def cmd_policy_check(args: argparse.Namespace) -> int:
    from finfer.application.policy import PolicyError
    from finfer.exporters.application import read_policy

    try:
        policy, _ = read_policy(args.file)
    except PolicyError as exc:
        print(f"error: {args.file}: {exc}", file=sys.stderr)
        return 2
    deadlines = ", ".join(f"{name} {b.deadline_ms} ms" for name, b in policy.branches.items())
    print(f"{args.file}: policy {policy.version} is valid; deadlines: {deadlines}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from finfer.clients import FinferClientError, GrpcClient, HttpClient
    from finfer.models.risk.applicants import load_applicants

    applicant = json.loads(Path(args.file).read_text()) if args.file else load_applicants()[args.example]
    try:
        if args.grpc:
            with GrpcClient(args.grpc) as client:
                result = client.score(applicant)
        else:
            with HttpClient(args.url) as client:
                result = client.score(applicant)
    except FinferClientError as exc:
        print(f"error: {exc.message}" + (f" (field {exc.field})" if exc.field else ""), file=sys.stderr)
        return 2
    print(result.model_dump_json(indent=2))
    return 0


def _drill(name: str, run: Callable[[Path, Path], Any]) -> int:
    """A drill on a private cluster in a scratch folder under the state directory: its report printed, exit 1
    when it found a problem."""
    import tempfile

    from finfer.settings import Settings

    settings = Settings()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{name}-", dir=settings.state_dir) as workdir:
        report = run(settings.model_repository, Path(workdir))
    print(report.markdown())
    return 0 if not report.problems() else 1


def cmd_chaos(args: argparse.Namespace) -> int:
    from finfer.loadtest import chaos

    return _drill(
        "chaos",
        lambda repository, workdir: chaos.run(
            repository, workdir, clients=args.clients, settle_s=args.settle, out=args.out, progress=_progress
        ),
    )


def cmd_soak(args: argparse.Namespace) -> int:
    from finfer.loadtest import soak

    return _drill(
        "soak",
        lambda repository, workdir: soak.run(
            repository, workdir, args.duration, args.rate, out=args.out, progress=_progress
        ),
    )


def cmd_loadtest(args: argparse.Namespace) -> int:
    from finfer.loadtest.run import run_locust

    return run_locust(args)


def cmd_bench(args: argparse.Namespace) -> int:
    from finfer.loadtest.bench import main as bench_main

    return bench_main(args)


def _mix(text: str) -> dict[str, float]:
    try:
        pairs = [item.split("=", 1) for item in text.split(",") if item]
        return {name.strip(): float(share) for name, share in pairs}
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected PIPELINE=SHARE[,PIPELINE=SHARE...], got {text!r}") from None


def cmd_capacity(args: argparse.Namespace) -> int:
    from finfer.loadtest import capacity

    if not args.bench.exists():
        print(f"error: {args.bench} is missing: run `finfer bench` first", file=sys.stderr)
        return 1
    rate = args.rps if args.rps is not None else capacity.peak_requests_per_s(args.per_day, args.peak_factor)
    demand = capacity.Demand(rate, args.mix, args.cache_hit_ratio)
    try:
        result = capacity.plan(
            capacity.load_measurements(args.bench),
            demand,
            p99_target_ms=args.p99_ms,
            utilization=args.utilization,
            spare=args.spare,
            min_replicas=args.min_replicas,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result.to_dict(), indent=2) if args.json else capacity.render(result, demand))
    return 0


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


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="finfer", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True)

    build = sub.add_parser("build", help="train and export models into the Triton model repository")
    from finfer.pipelines import BY_FAMILY

    build.add_argument("--family", action="append", choices=list(BY_FAMILY), help="model family (default: all)")
    build.add_argument("--out", type=Path, help="repository folder (default: model_repository/)")
    build.add_argument("--flavour", choices=["embedded", "native", "native-cpu"], default="embedded")
    build.add_argument("--profile", choices=["full", "small"], default="full")
    build.add_argument("--no-dynamic-batching", action="store_true", help="write configs without dynamic batching")
    build.add_argument("--tensorrt", action="store_true", help="also build TensorRT plans (GPU node only)")
    build.add_argument("--force", action="store_true", help="rebuild even if the repository is built")
    build.add_argument(
        "--version",
        type=int,
        default=1,
        help="Triton version folder to write; above 1, a candidate served beside version 1 (splits, shadow)",
    )
    build.add_argument("--csv", help="train the risk model on this CSV instead of the German credit data")
    build.add_argument("--target", default="creditability", help="target column of --csv")
    build.add_argument("--positive-label", default="bad", help="target value meaning default")
    build.add_argument(
        "--damage-checkpoint",
        type=Path,
        help="serve your own DamageNet weights (a torch state_dict) instead of training on generated panels",
    )
    build.add_argument("--policy", type=Path, help="the loan-application decision policy (TOML; default: finfer's)")
    build.set_defaults(func=cmd_build)

    serve = sub.add_parser("serve", help="build if needed, start Triton and the front, serve until Ctrl-C")
    serve.add_argument("--no-build", action="store_true")
    serve.add_argument("--profile", choices=["full", "small"], default="full")
    serve.add_argument("--policy", type=Path, help="validate this decision policy (TOML) and serve it")
    serve.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="embedded Triton servers on this machine, the front failing over between them "
        "(replica i on the Triton ports + 100 × i; above 1 needs FINFER_FRAUD_GRAPH_URL)",
    )
    serve.set_defaults(func=cmd_serve)

    policy = sub.add_parser("policy", help="the loan-application decision policy")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True)
    check = policy_sub.add_parser("check", help="validate a policy file; errors name the key at fault")
    check.add_argument("file", type=Path)
    check.set_defaults(func=cmd_policy_check)

    score = sub.add_parser("score", help="score one applicant through the front")
    score.add_argument("--url", default="http://127.0.0.1:8080")
    score.add_argument("--grpc", metavar="HOST:PORT", help="use gRPC at this address instead of HTTP")
    score.add_argument("--file", help="applicant JSON file (default: a row of the German credit data)")
    score.add_argument("--example", type=int, default=0, help="row of the German credit data to send")
    score.set_defaults(func=cmd_score)

    loadtest = sub.add_parser("loadtest", help="run Locust headless against the front")
    loadtest.add_argument("--host", default="http://127.0.0.1:8080", help="front HTTP URL")
    loadtest.add_argument("--grpc-host", default="127.0.0.1:8081", help="front gRPC address")
    loadtest.add_argument("--protocol", choices=["http", "grpc", "both"], default="http")
    from finfer.loadtest.run import DEFAULT_MIX

    loadtest.add_argument("--mix", default=DEFAULT_MIX, help="PIPELINE[:batch]=WEIGHT,... (registry names)")
    loadtest.add_argument("--users", type=int, default=32)
    loadtest.add_argument("--spawn-rate", type=float, default=16)
    loadtest.add_argument("--duration", default="30s", help="e.g. 30s, 2m")
    loadtest.add_argument("--out", type=Path, default=paths.LOADTEST_RESULTS / "locust")
    loadtest.set_defaults(func=cmd_loadtest)

    bench = sub.add_parser("bench", help="benchmark the front, Triton and onnxruntime on one request stream")
    bench.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    bench.add_argument("--concurrency", type=int, default=32)
    bench.add_argument("--batch-rows", type=int, default=256)
    bench.add_argument("--out", type=Path, default=paths.LOADTEST_RESULTS)
    bench.add_argument(
        "--only",
        action="append",
        help="run only these scenarios (a..z; see loadtest/bench.py, vision_bench.py and application_bench.py)",
    )
    bench.set_defaults(func=cmd_bench)

    drill = sub.add_parser(
        "chaos", help="kill a Triton replica, a Python stub and Redis under load, then roll the replicas; report"
    )
    drill.add_argument("--clients", type=int, default=32)
    drill.add_argument("--settle", type=float, default=10.0, help="seconds of load after each fault has recovered")
    drill.add_argument("--out", type=Path, default=paths.LOADTEST_RESULTS)
    drill.set_defaults(func=cmd_chaos)

    soak = sub.add_parser(
        "soak", help="mixed pipelines at half the measured capacity for long; errors and memory growth per process"
    )
    soak.add_argument("--duration", type=float, default=600.0, help="seconds of soak after the capacity run")
    soak.add_argument("--rate", type=float, help="requests a second (default: half the measured capacity)")
    soak.add_argument("--out", type=Path, default=paths.LOADTEST_RESULTS)
    soak.set_defaults(func=cmd_soak)

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

    drift = sub.add_parser("drift", help="input and output drift against the training data")
    drift_sub = drift.add_subparsers(dest="drift_command", required=True)
    report = drift_sub.add_parser("report", help="an HTML report with a plot per drifted field")
    report.add_argument("--url", default="http://127.0.0.1:8080", help="the front whose window to read")
    report.add_argument("--api-key", help="a key with the admin scope (where access control is on)")
    report.add_argument("--requests", type=Path, help="instead: a file of request bodies, one JSON a line")
    report.add_argument("--pipeline", default="risk", help="with --requests: whose requests they are")
    report.add_argument("--out", type=Path, default=Path("drift-report.html"))
    report.set_defaults(func=cmd_drift_report)

    plan = sub.add_parser("capacity", help="replicas for a request rate and mix, from `finfer bench` results")
    rate = plan.add_mutually_exclusive_group(required=True)
    rate.add_argument("--rps", type=float, help="peak requests per second to plan for")
    rate.add_argument("--per-day", type=float, help="requests a day (planned at --peak-factor times the average)")
    plan.add_argument("--peak-factor", type=float, default=3.0, help="peak over average rate (default 3)")
    first = next(iter(BY_FAMILY.values())).triton_model
    plan.add_argument("--mix", type=_mix, default={first: 1.0}, help=f"PIPELINE=SHARE,... (default {first}=1)")
    plan.add_argument("--cache-hit-ratio", type=float, default=0.0, help="share answered by the front's cache")
    plan.add_argument("--p99-ms", type=float, default=200.0, help="p99 target; slower measurements warn")
    plan.add_argument("--utilization", type=float, default=0.7, help="planned share of measured throughput")
    plan.add_argument("--spare", type=int, default=1, help="replicas on top for failures and rollouts")
    plan.add_argument("--min-replicas", type=int, default=2)
    plan.add_argument("--bench", type=Path, default=paths.LOADTEST_RESULTS / "bench.json")
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    plan.set_defaults(func=cmd_capacity)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

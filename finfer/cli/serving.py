"""`finfer build`, `serve`, `policy check` and `score`: the model repository, the running stack, one request."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from finfer import paths
from finfer.build_progress import Board, Display, Phase

if TYPE_CHECKING:  # heavy imports stay out of `finfer --help`
    from finfer.exporters.base import BuildOptions, Exporter


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def build(options: BuildOptions, exporters: list[Exporter], display: Display) -> None:
    """Export each family into `options.out`, skipping those already built unless forced."""
    from finfer.exporters.base import export, is_built

    for exporter in exporters:
        family = exporter.family
        if is_built(exporter, options.out, options.version) and not options.force:
            what = "" if options.version == 1 else f"version {options.version} "
            display.board.set(family, Phase.DONE, "already built")
            display.note(f"[{family}] {what}already built in {options.out} (use --force to rebuild)")
            continue
        display.board.start(family)
        try:
            card = export(exporter, options, display.progress)
        except BaseException:
            display.board.set(family, Phase.FAILED, "failed")
            raise
        quality = card.get("quality", {})
        if "ring_recall_gain" in quality:
            display.progress(
                f"[{family}] held-out rings: GNN PR AUC {quality['gnn']['pr_auc']:.3f} vs tabular "
                f"{quality['baseline']['pr_auc']:.3f}; ring recall at the tabular model's precision "
                f"×{quality['ring_recall_gain']:.2f}"
            )
        if "cv_roc_auc" in quality:
            display.progress(
                f"[{family}] {quality['cv_folds']}-fold CV ROC AUC {quality['cv_roc_auc']:.3f}, "
                f"Brier {quality['cv_brier']:.3f}"
            )
        display.board.set(family, Phase.DONE, f"built in {card['build_seconds']:g} s")


def cmd_build(args: argparse.Namespace) -> int:
    from finfer.exporters.base import BuildOptions, Profile, VersionError
    from finfer.exporters.behaviour import BehaviourExporter
    from finfer.exporters.damage import DamageExporter
    from finfer.exporters.model_config import Flavour
    from finfer.exporters.risk import RiskExporter
    from finfer.pipelines.registry import BY_FAMILY

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
        "behaviour": (lambda: BehaviourExporter(args.behaviour_csv)) if args.behaviour_csv else None,
        "damage": (lambda: DamageExporter(args.damage_checkpoint)) if args.damage_checkpoint else None,
        "application": (lambda: ApplicationExporter(args.policy)) if args.policy else None,
    }
    families = args.family or list(BY_FAMILY)
    exporters = [(custom.get(family) or BY_FAMILY[family].make_exporter)() for family in families]
    board = Board({family: BY_FAMILY[family].build_time.of(args.profile) for family in families})
    try:
        with Display(board) as display:
            build(options, exporters, display)
    except VersionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from finfer.application.policy import DEFAULT_POLICY, PolicyError, policy_in_force
    from finfer.background_build import BackgroundBuild, served_models
    from finfer.exporters.application import install_policy, read_policy
    from finfer.front import metrics
    from finfer.pipelines import application
    from finfer.pipelines.registry import REGISTRY
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
    if args.policy and settings.policy_file:
        print(f"error: --policy and FINFER_POLICY_FILE ({settings.policy_file}) both name a policy", file=sys.stderr)
        return 2
    repository = settings.model_repository
    # What is not built is built while the rest serves (finfer/background_build.py).
    pending = [] if args.no_build else [p for p in REGISTRY if not p.is_built(repository)]
    built_policy = DEFAULT_POLICY if application.PIPELINE in pending else repository / application.PIPELINE.meta
    served = settings.policy_file or args.policy or policy_in_force(built_policy)
    try:
        if application.PIPELINE in pending:
            policy = read_policy(served)[0]  # checked now; the application's build installs it
        else:
            policy = install_policy(repository, args.policy) if args.policy else read_policy(served)[0]
    except (PolicyError, FileNotFoundError) as exc:
        print(f"error: policy {served}: {exc}", file=sys.stderr)
        return 2
    display = Display(BackgroundBuild.board_for(pending, args.profile))
    display.open()
    note = display.note
    note(f"decision policy {policy.version} ({served})")
    budget = RestartBudget(
        settings.triton_max_restarts, settings.triton_restart_window_s, settings.triton_restart_backoff_s
    )
    started: list[tuple[TritonServer, Supervisor]] = []
    try:
        if pending:
            repository.mkdir(parents=True, exist_ok=True)
        for i, own in enumerate(replicas):
            log = own.state_dir / ("triton.log" if i == 0 else f"triton-{i}.log")
            triton = TritonServer(own, log_path=log)
            if pending:
                triton.models = served_models(repository, [p for p in REGISTRY if p not in pending])
            triton.start(note)
            started.append((triton, Supervisor(triton, budget, metrics.TRITON_RESTARTS.inc, note)))
        for triton, supervisor in started:
            triton.wait_ready(progress=note)
            supervisor.start()
        if settings.triton_urls is None:
            settings = settings.model_copy(update={"triton_urls": ",".join(r.triton_grpc_url for r in replicas)})
        by_address = {triton.settings.triton_grpc_url: triton for triton, _ in started}
        tritons = [triton for triton, _ in started]
        background = (
            BackgroundBuild(pending, args.profile, repository, display, tritons, args.policy) if pending else None
        )
        if background is None:
            display.close()

        def restart(address: str) -> None:
            # A stub that will not reload: kill that Triton, and its supervisor starts a fresh one.
            if address in by_address and by_address[address].running:
                note(f"restarting Triton {address}: a dead stub would not reload")
                os.kill(by_address[address].pid, signal.SIGKILL)

        run(settings, restart, background)
    except TritonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        display.close()
        progress("stopping Triton")
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


def add_commands(sub: argparse._SubParsersAction) -> None:
    build = sub.add_parser("build", help="train and export models into the Triton model repository")
    from finfer.pipelines.registry import BY_FAMILY

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
        "--behaviour-csv",
        type=Path,
        help="train the behaviour model on these card holders' months (the shipped file's columns) instead",
    )
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

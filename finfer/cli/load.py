"""`finfer loadtest`, `bench`, `chaos`, `soak` and `capacity`: load, measurements, drills and the plan from them."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finfer import paths
from finfer.cli.serving import progress

if TYPE_CHECKING:  # heavy imports stay out of `finfer --help`
    pass


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


def _bad_mix(text: str) -> bool:
    """A --mix that names an unknown route, said on stderr."""
    from finfer.loadtest.mix import pipeline_weights

    try:
        pipeline_weights(text)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return True
    return False


def cmd_chaos(args: argparse.Namespace) -> int:
    from finfer.loadtest import chaos

    if _bad_mix(args.mix):
        return 2
    return _drill(
        "chaos",
        lambda repository, workdir: chaos.run(
            repository,
            workdir,
            clients=args.clients,
            settle_s=args.settle,
            mix=args.mix,
            out=args.out,
            progress=progress,
        ),
    )


def cmd_soak(args: argparse.Namespace) -> int:
    from finfer.loadtest import soak

    if _bad_mix(args.mix):
        return 2
    return _drill(
        "soak",
        lambda repository, workdir: soak.run(
            repository, workdir, args.duration, args.rate, mix=args.mix, out=args.out, progress=progress
        ),
    )


def cmd_loadtest(args: argparse.Namespace) -> int:
    if args.scenario == "isolation":
        from finfer.loadtest.isolation import run_isolation

        return run_isolation(args)
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


def add_commands(sub: argparse._SubParsersAction) -> None:
    loadtest = sub.add_parser("loadtest", help="run Locust headless against the front")
    loadtest.add_argument("--host", default="http://127.0.0.1:8080", help="front HTTP URL")
    loadtest.add_argument("--grpc-host", default="127.0.0.1:8081", help="front gRPC address")
    loadtest.add_argument("--protocol", choices=["http", "grpc", "both"], default="http")
    from finfer.loadtest.mix import DEFAULT_MIX

    loadtest.add_argument("--mix", default=DEFAULT_MIX, help="PIPELINE[:batch]=WEIGHT,... (registry names)")
    loadtest.add_argument("--users", type=int, default=32, help="users (with --scenario isolation: heavy users)")
    loadtest.add_argument("--spawn-rate", type=float, default=16)
    loadtest.add_argument("--duration", default="30s", help="e.g. 30s, 2m (isolation: each of its two runs)")
    loadtest.add_argument(
        "--user-rate", type=float, default=0.0, help="requests/s per user (default 0: as fast as answers come)"
    )
    from finfer.application.examples import APPLICATION_SHAPES

    loadtest.add_argument(
        "--application-shape",
        choices=APPLICATION_SHAPES,
        default="mix",
        help="applications as dealers send them (mix), without images (plain), or each with a page and a photo",
    )
    loadtest.add_argument(
        "--scenario",
        choices=["mix", "isolation"],
        default="mix",
        help="mix: the --mix; isolation: the light pipelines at --light-rate alone, then beside --users heavy "
        "users (pages, photos), their p50/p95 compared (docs/isolation.md)",
    )
    loadtest.add_argument(
        "--light-rate", type=float, default=30.0, help="isolation: light requests a second, in all (default 30)"
    )
    loadtest.add_argument("--out", type=Path, default=paths.LOADTEST_RESULTS / "locust")
    loadtest.set_defaults(func=cmd_loadtest)

    bench = sub.add_parser("bench", help="benchmark the front, Triton and onnxruntime on one request stream")
    bench.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    bench.add_argument("--concurrency", type=int, default=32)
    bench.add_argument("--batch-rows", type=int, default=256)
    bench.add_argument(
        "--out",
        type=Path,
        help=f"where bench.json and bench.md go (default {paths.LOADTEST_RESULTS}; with --compare, "
        ".finfer/bench/results, so the committed baseline is refreshed only on purpose)",
    )
    bench.add_argument(
        "--compare",
        type=Path,
        metavar="BASELINE",
        help="print each scenario's CPU µs per request and p50 beside this results file's, flag any more than 25%% "
        "worse (exit status 3 when one is)",
    )
    bench.add_argument(
        "--profile",
        metavar="SCENARIO",
        help="run one scenario and say where its requests' time went, model by model and step by step "
        "(queue, inputs in, compute, outputs out: Triton's statistics)",
    )
    bench.add_argument(
        "--results",
        type=Path,
        help="with --compare: compare this results file instead of running the bench",
    )
    bench.add_argument(
        "--only",
        action="append",
        help="run only these scenarios (a..z, and A, H, S for the plain baselines; see loadtest/bench.py, "
        "vision_bench.py and application_bench.py)",
    )
    bench.set_defaults(func=cmd_bench)

    drill = sub.add_parser(
        "chaos", help="kill a Triton replica, a Python stub and Redis under load, then roll the replicas; report"
    )
    drill.add_argument("--clients", type=int, default=32)
    drill.add_argument("--settle", type=float, default=10.0, help="seconds of load after each fault has recovered")
    drill.add_argument(
        "--mix",
        default=DEFAULT_MIX,
        help="pipelines and weights (batch routes are left out); the stub killed is the most frequent one's, e.g. "
        f"the OCR drill: --clients 3 --mix documents=1 (default: {DEFAULT_MIX})",
    )
    drill.add_argument("--out", type=Path, default=paths.LOADTEST_RESULTS)
    drill.set_defaults(func=cmd_chaos)

    soak = sub.add_parser(
        "soak", help="mixed pipelines at half the measured capacity for long; errors and memory growth per process"
    )
    soak.add_argument("--duration", type=float, default=600.0, help="seconds of soak after the capacity run")
    soak.add_argument("--rate", type=float, help="requests a second (default: half the measured capacity)")
    soak.add_argument(
        "--mix",
        default=DEFAULT_MIX,
        help="pipelines and weights (batch routes are left out), e.g. with documents and photos: "
        f"'{DEFAULT_MIX},documents=1,damage=1' (default: {DEFAULT_MIX})",
    )
    soak.add_argument("--out", type=Path, default=paths.LOADTEST_RESULTS)
    soak.set_defaults(func=cmd_soak)

    from finfer.pipelines.registry import BY_FAMILY

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

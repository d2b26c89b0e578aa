"""`finfer bench`: one request stream through every path, side by side.

(a) front over HTTP, (b) front over gRPC, (c) Triton directly over gRPC, (d) Triton without
dynamic batching, (e) cache hits through the front, (f) the batch endpoint against onnxruntime
in-process; fraud rings: (g) one application at a time through the front (latency), (h) the
front under load, (i) Triton's fraud model directly; customer intent: (j) one message at a time
through the front (latency), (k) the front under load, (l) Triton's intent ensemble directly,
(m) a plain FastAPI endpoint running the same steps per request; documents and damage: n–u
(vision_bench.py); loan applications: w–z (application_bench.py). Plain FastAPI baselines of risk (A),
fraud (H) and damage (S) as (m) for intent, and each pipeline's in-process ceiling (loadtest/baselines.py).
Each scenario reports requests/s, latency percentiles and CPU µs per request of each process (the load
generator shares the 2 cores, so CPU per request is steadier than throughput). `--compare BASELINE` sets
them beside a committed run (compare.py); `--profile SCENARIO` says where one scenario's time went
(profile.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path

import orjson
from tritonclient.grpc.service_pb2_grpc import GRPCInferenceServiceStub

from finfer.clients.grpc_client import to_struct
from finfer.loadtest import compare, perf_analyzer, profile, stack
from finfer.loadtest.scenario import Result, direct_requests, grpc_sender, http_sender, run_scenario
from finfer.models.risk.applicants import unique_applicants
from finfer.models.risk.scoring import FeatureSchema
from finfer.pipelines import application, damage, documents, fraud, intent, risk
from finfer.pipelines.declaration import Pipeline
from finfer.settings import Settings
from finfer.wire import finfer_pb2, finfer_pb2_grpc

# Pipelines measured alike, by their declarations: letters for one client, the front under load, Triton direct.
SINGLE_PIPELINES = {"ghi": fraud.PIPELINE, "jkl": intent.PIPELINE}


def pipeline_scenarios(
    pipeline: Pipeline, letters: str, only: set[str], live: Settings, concurrency: int, duration: float, pids: dict
) -> list[Result]:
    """One pipeline's three scenarios over distinct generated requests: latency at one client, the front's
    throughput at `concurrency` clients (cache misses), and Triton direct with the codec's own tensors."""
    one, load, direct = letters
    bodies = pipeline.examples(60_000, 2)
    encoded = [orjson.dumps(body) for body in bodies]
    http_url = f"http://{live.front_host}:{live.http_port}"
    name = pipeline.name
    out = []
    if one in only:
        send = http_sender(http_url, pipeline.http_path, encoded[:5_000], 1)
        out.append(run_scenario(one, f"front, HTTP, {name}, 1 client", send, 1, duration, pids))
    if load in only:
        send = http_sender(http_url, pipeline.http_path, encoded[5_000:45_000], concurrency)
        out.append(
            run_scenario(load, f"front, HTTP, {name}", send, concurrency, duration, pids, tier="front-miss", model=name)
        )
    if direct in only:
        requests = direct_requests(pipeline, live.model_repository, bodies[45_000:])
        send = grpc_sender(live.triton_grpc_url, GRPCInferenceServiceStub, "ModelInfer", requests)
        out.append(
            run_scenario(
                direct,
                f"Triton direct, {pipeline.triton_model}, dynamic batching",
                send,
                concurrency,
                duration,
                pids,
                tier="triton",
                model=pipeline.triton_model,
            )
        )
    return out


# The scenarios that run on the bench's own Triton (the others: another Triton, or none).
PROFILED = "abcefghijklnoprstwxyz"

# The plain FastAPI baseline of a pipeline (loadtest/baselines.py): its scenario letter, and the letter of the
# front's scenario under load that it is held against (with the same number of clients).
PLAIN = {"risk": ("A", "a"), "fraud": ("H", "h"), "intent": ("m", "k"), "damage": ("S", "s")}
# Triton direct at load, per pipeline: its CPU a request is held against the in-process CPU a row.
TRITON_DIRECT = {"risk": "c", "fraud": "i", "intent": "l", "damage": "t"}
# How much more CPU a request Triton may spend than the in-process compute of a row (risk: its fixed
# per-request cost dominates such a small model).
TRITON_CPU_BOUND = {"risk": 4.0, "fraud": 1.3, "intent": 1.3, "damage": 1.3}


def plain_baseline(
    pipeline: Pipeline, letter: str, repository: Path, bodies: list[bytes], concurrency: int, duration: float
) -> Result:
    (port,) = stack.free_ports(1)
    with stack.plain_endpoint(repository, pipeline.name, port) as process:
        send = http_sender(f"http://127.0.0.1:{port}", pipeline.http_path, bodies, concurrency)
        return run_scenario(
            letter,
            f"plain FastAPI, in process per request, {pipeline.name}",
            send,
            concurrency,
            duration,
            {"front": process.pid},
        )


def baselines(only: set[str], repository: Path, concurrency: int, duration: float) -> tuple[list[Result], dict]:
    """Each pipeline's plain FastAPI baseline (where asked) and in-process ceiling (where it is measured)."""
    from finfer.loadtest import baselines as in_process
    from finfer.loadtest.vision_bench import DAMAGE_CLIENTS, damage_bodies
    from finfer.pipelines.registry import BY_NAME

    results, ceilings = [], {}
    for name, (letter, front_letter) in PLAIN.items():
        pipeline = BY_NAME[name]
        if not pipeline.is_built(repository) or not only & {letter, front_letter, TRITON_DIRECT[name]}:
            continue
        if letter in only:
            if pipeline is damage.PIPELINE:
                bodies, clients = damage_bodies(), DAMAGE_CLIENTS
            else:
                bodies, clients = [orjson.dumps(b) for b in pipeline.examples(20_000, 22)], concurrency
            results.append(plain_baseline(pipeline, letter, repository, bodies, clients, duration))
        ceilings[name] = in_process.ceiling(repository, pipeline)
        print(f"  {name} in-process ceiling: {ceilings[name]}", flush=True)
    return results, ceilings


def baseline_checks(by: dict[str, Result], ceilings: dict) -> list[tuple[str, float, float]]:
    """The throughput targets against the baselines measured in the same run."""
    checks = []
    for name, (plain, front) in PLAIN.items():
        if plain in by and front in by:
            ratio = by[front].rows_per_s / by[plain].rows_per_s
            checks.append((f"{name} through the front ≥ 1.5× plain FastAPI ({front}/{plain})", ratio, 1.5))
        direct = TRITON_DIRECT[name]
        triton = by[direct].cpu_us_per_request.get("triton", 0.0) if direct in by else 0.0
        if triton and name in ceilings:
            bound, row = TRITON_CPU_BOUND[name], ceilings[name]["cpu_us_per_row"]
            checks.append(
                (
                    f"{name}: Triton CPU a request ({direct}, {triton:.0f} µs) ≤ {bound:g}× in-process CPU a row "
                    f"({row:.0f} µs) (ratio {bound:g}·in-process / Triton)",
                    bound * row / triton,
                    1.0,
                )
            )
    if "f" in by and "risk" in ceilings:
        ratio = by["f"].rows_per_s / ceilings["risk"]["rows_per_s"]
        checks.append(("risk batch endpoint ≥ 0.7× the in-process ceiling (all cores)", ratio, 0.7))
    return checks


def onnxruntime_rows_per_s(model: Path, schema: FeatureSchema, batch: int, seconds: float = 3.0) -> dict:
    """The ceiling: the risk ONNX model in-process on one thread, one row at a time and in batches."""
    from finfer.exporters.risk import columns
    from finfer.models.risk.scoring import encode
    from finfer.runtime.onnx_session import session_for

    session = session_for(model)
    applicants = unique_applicants(batch, seed=99)
    rows = [{k: str(v) for k, v in a.items()} for a in applicants]
    features = encode(schema, *columns(schema, rows))
    rates = {}
    for size in (1, batch):
        x = features[:size]
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            session.run(None, {"features": x})
            n += size
        rates[f"rows_per_s_batch_{size}"] = n / (time.perf_counter() - start)
    return rates


# Triton direct: the bench's own scenario at load for each model perf_analyzer measures.
OWN_DIRECT = {"risk_score": "c", "fraud_score": "i", "customer_intent": "l"}
# 1 client, Triton direct: the p50 each model should reach (ms).
DIRECT_P50_MS = {"risk_score": 1.0, "customer_intent": 1.5}


def perf_analyzer_markdown(measured: list[dict], by: dict[str, Result], lines: list[str]) -> list:
    """perf_analyzer's table (appended to `lines`) and the 1-client targets it measures."""
    if not measured:
        return []
    lines += [
        "",
        "perf_analyzer (NVIDIA's load generator, gRPC, the same requests) against the same Triton:",
        "",
        "| model | clients | inferences/s | bench's own | p50 ms | p95 ms | queue µs | compute µs |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    checks = []
    for m in measured:
        own = by.get(OWN_DIRECT.get(m["model"], ""))
        same = f"{own.requests_per_s:,.0f}" if own and m["concurrency"] > 1 else "—"
        lines.append(
            f"| {m['model']} | {m['concurrency']} | {m['inferences_per_s']:,.0f} | {same} | {m['p50_ms']:.2f} | "
            f"{m['p95_ms']:.2f} | {m['queue_us']:.0f} | {m['compute_us']:.0f} |"
        )
        goal = DIRECT_P50_MS.get(m["model"])
        if goal and m["concurrency"] == 1:
            checks.append(
                (f"{m['model']}, Triton direct, 1 client: p50 ≤ {goal} ms (ratio goal / p50)", goal / m["p50_ms"], 1.0)
            )
    return checks


def markdown(results: list[Result], ort_rates: dict, meta: dict) -> str:
    lines = [
        f"# finfer bench — {meta['when']}",
        "",
        f"Machine: {meta['machine']}; concurrency {meta['concurrency']}; {meta['duration_s']} s a scenario "
        f"after 1 s warm-up; request stream: unique German-credit applicants (no cache hits except in (e)).",
        "",
        "| scenario | what | req/s | rows/s | p50 ms | p95 ms | p99 ms | errors "
        "| CPU µs/req (front · Triton · load gen) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        cpu = " · ".join(f"{r.cpu_us_per_request.get(k, 0):.0f}" for k in ("front", "triton", "load generator"))
        lines.append(
            f"| {r.scenario} | {r.description} | {r.requests_per_s:,.0f} | {r.rows_per_s:,.0f} | "
            f"{r.p50_ms:.2f} | {f'{r.p95_ms:.2f}' if r.p95_ms else '—'} | {r.p99_ms:.2f} | {r.errors} | {cpu} |"
        )
    if ort_rates:
        lines += [
            "",
            "onnxruntime in-process, one thread: "
            + ", ".join(f"{k.replace('rows_per_s_batch_', 'batch ')}: {v:,.0f} rows/s" for k, v in ort_rates.items()),
        ]
    by = {r.scenario[0]: r for r in results}
    checks = []
    if "c" in by and "d" in by:
        checks.append(
            (
                "dynamic batching ≥ 2× no batching (Triton direct)",
                by["c"].requests_per_s / by["d"].requests_per_s,
                2.0,
            )
        )
    if "b" in by and "c" in by:
        checks.append(("front gRPC ≥ 70% of Triton direct", by["b"].requests_per_s / by["c"].requests_per_s, 0.7))
    if "e" in by and "a" in by:
        checks.append(("cache hits ≥ 3× cache misses (HTTP)", by["e"].requests_per_s / by["a"].requests_per_s, 3.0))
    if "f" in by and ort_rates:
        best = max(ort_rates.values())
        checks.append(("batch endpoint ≥ 50% of onnxruntime rows/s", by["f"].rows_per_s / best, 0.5))
    if "g" in by:
        checks.append(("fraud score, one at a time: p95 ≤ 50 ms (ratio 50 / p95)", 50.0 / by["g"].p95_ms, 1.0))
    if "j" in by:
        checks.append(("intent, one at a time: p95 ≤ 20 ms (ratio 20 / p95)", 20.0 / by["j"].p95_ms, 1.0))
    ceilings = meta.get("ceilings") or {}
    if "k" in by and "intent" in ceilings:
        ceiling = ceilings["intent"]["rows_per_s"]
        checks.append(("intent through front ≥ 70% of the in-process ceiling", by["k"].rows_per_s / ceiling, 0.7))
    checks += baseline_checks(by, ceilings)
    if ceilings:
        lines += ["", "In-process ceilings (the pipelines' own steps, batched, one process a core):", ""]
        lines += [
            f"- {name}: {c['rows_per_s']:,.0f} rows/s, {c['cpu_us_per_row']:,.0f} CPU µs a row "
            f"(batches of {c['batch']}, {c['processes']} processes)"
            for name, c in ceilings.items()
        ]
    from finfer.loadtest.vision_bench import peer_markdown, vision_checks

    checks += vision_checks(by, meta.get("ocr_peer"))
    from finfer.loadtest.application_bench import application_checks

    checks += application_checks(by, meta.get("branch_alone_p50_ms") or {})
    if meta.get("ocr_peer"):
        lines += peer_markdown(meta["ocr_peer"])
    if meta.get("fraud_graph_rss_mib"):
        lines += [
            "",
            f"Memory of Triton's fraud graph process (graph loaded): {meta['fraud_graph_rss_mib']} MiB RSS.",
        ]
    checks += perf_analyzer_markdown(meta.get("perf_analyzer") or [], by, lines)
    if checks:
        lines += ["", "| target | measured ratio | goal | met |", "| --- | ---: | ---: | --- |"]
        lines += [f"| {t} | {v:.2f} | {g:.2f} | {'yes' if v >= g else 'no'} |" for t, v, g in checks]
    return "\n".join(lines) + "\n"


def main(args: argparse.Namespace) -> int:
    from finfer import paths

    if args.results and not args.compare:
        print("error: --results needs --compare BASELINE")
        return 2
    for given in (args.compare, args.results):
        if given and not given.exists():
            print(f"error: {given} does not exist")
            return 2
    if args.out is None:
        args.out = paths.STATE_DIR / "bench" / "results" if args.compare else paths.LOADTEST_RESULTS
    if not args.results:
        code = run(args)
        if code:
            return code
    if args.compare:
        return report_comparison(args.results or args.out / "bench.json", args.compare, args.out)
    return 0


def report_comparison(results: Path, baseline: Path, out: Path) -> int:
    """Print (and keep beside the results) the comparison; exit status 3 when a scenario got worse."""
    rows = compare.compare(compare.load_results(results), compare.load_results(baseline))
    table = compare.markdown(rows, baseline)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.md").write_text(table)
    print("\n" + table)
    worse = [r.scenario for r in rows if r.worse()]
    if worse:
        print(f"worse than {baseline} by more than {compare.BOUND:.0%}: {', '.join(worse)}")
        return 3
    return 0


def run(args: argparse.Namespace) -> int:
    from finfer import paths
    from finfer.loadtest import application_bench, vision_bench

    settings = Settings()
    repository = settings.model_repository
    if not risk.PIPELINE.is_built(repository):
        print(f"error: {repository / risk.PIPELINE.meta} is missing: run `finfer build` first")
        return 1
    schema = FeatureSchema.load(repository / risk.PIPELINE.meta)
    only = set("".join(args.only or ["abcdefghijklmnopqrstuvwxyzAHSN"]))  # `--only wxyz` or `--only w --only x`
    if args.profile:
        if args.profile not in PROFILED:
            print(f"error: --profile {args.profile}: not a scenario that runs on the bench's Triton ({PROFILED})")
            return 2
        only = {args.profile}
    state = paths.STATE_DIR / "bench"
    state.mkdir(parents=True, exist_ok=True)
    n = 200_000
    applicants = risk.PIPELINE.examples(n, 1)
    bodies = [orjson.dumps(a) for a in applicants]
    direct = direct_requests(risk.PIPELINE, repository, applicants[:20_000])
    results: list[Result] = []
    fraud_rss = None
    c, d = args.concurrency, args.duration
    print(f"bench: {c} concurrent clients, {d}s a scenario, repository {repository}", flush=True)

    vision_built = documents.PIPELINE.is_built(repository) and damage.PIPELINE.is_built(repository)
    ocr_peer = None
    steps_p50_ms: dict[str, float] = {}
    measured: list[perf_analyzer.Measured] = []
    live = stack.bench_settings(repository, state)
    with stack.triton(live) as server, stack.front(live) as front:
        pids = {"front": front.pid, "triton": server.pid}
        started = profile.snapshot(live.triton_http_url, live.triton_metrics_url) if args.profile else None
        http_url = f"http://{live.front_host}:{live.http_port}"
        front_grpc = f"{live.front_host}:{live.grpc_port}"
        if "a" in only:
            results.append(
                run_scenario(
                    "a",
                    "front, HTTP, cache misses",
                    http_sender(http_url, "/v1/risk/score", bodies[: n // 4], c),
                    c,
                    d,
                    pids,
                    tier="front-miss",
                    model="risk",
                )
            )
        if "b" in only:
            grpc_requests = [finfer_pb2.ScoreRequest(applicant=to_struct(a)) for a in applicants[n // 4 : n // 2]]
            results.append(
                run_scenario(
                    "b",
                    "front, gRPC, cache misses",
                    grpc_sender(front_grpc, finfer_pb2_grpc.RiskScoringStub, "Score", grpc_requests),
                    c,
                    d,
                    pids,
                )
            )
        if "c" in only:
            results.append(
                run_scenario(
                    "c",
                    "Triton direct, gRPC, dynamic batching",
                    grpc_sender(live.triton_grpc_url, GRPCInferenceServiceStub, "ModelInfer", direct),
                    c,
                    d,
                    pids,
                    tier="triton",
                    model=risk.PIPELINE.triton_model,
                )
            )
        if "e" in only:
            hot = bodies[:512]
            results.append(
                run_scenario(
                    "e",
                    "front, HTTP, cache hits",
                    http_sender(http_url, "/v1/risk/score", hot, c),
                    c,
                    d,
                    pids,
                    tier="front-hit",
                    model="risk",
                )
            )
        if "f" in only:
            rows = args.batch_rows
            batch_bodies = [
                orjson.dumps({"applicants": applicants[i : i + rows]}) for i in range(n // 2, n - rows, rows)
            ]
            results.append(
                run_scenario(
                    "f",
                    f"front, HTTP batch endpoint, {rows} rows",
                    http_sender(http_url, "/v1/risk/score:batch", batch_bodies, 4),
                    4,
                    d,
                    pids,
                    rows_per_request=rows,
                )
            )
        for letters, pipeline in SINGLE_PIPELINES.items():
            if only & set(letters) and pipeline.is_built(repository):
                results += pipeline_scenarios(pipeline, letters, only, live, c, d, pids)
        graph_process = stack.find_child(server.pid, fraud.PIPELINE.triton_model) if only & set("ghi") else None
        fraud_rss = round(stack.rss_bytes(graph_process) / 2**20) if graph_process else None
        if only & set("noprst") and vision_built:
            results += vision_bench.vision_scenarios(only, live, pids, d)
        if "v" in only and vision_built:
            ocr_peer = vision_bench.ocr_peer(http_url)
        if only & set("wxyz") and application.PIPELINE.is_built(repository):
            found, steps_p50_ms = application_bench.application_scenarios(only, live, pids, d, c)
            results += found
        if "N" in only:
            from finfer.pipelines.registry import REGISTRY

            measured = perf_analyzer.run_all(
                list(REGISTRY), repository, live.triton_grpc_url, state / "perf_analyzer", (1, c)
            )
        if started is not None:
            ended = profile.snapshot(live.triton_http_url, live.triton_metrics_url)
            front_cpu = next((r.cpu_us_per_request.get("front") for r in results), None)
            report = profile.markdown(started, ended, args.profile, front_cpu)
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "profile.md").write_text(report)
            print("\n" + report)
            return 0
    found, ceilings = baselines(only, repository, c, d)
    results += found
    if only & set("dqu"):
        plain = stack.bench_settings(stack.without_dynamic_batching(repository, state / "no_batching"), state)
        with stack.triton(plain) as server:
            if "d" in only:
                results.append(
                    run_scenario(
                        "d",
                        "Triton direct, gRPC, no dynamic batching",
                        grpc_sender(plain.triton_grpc_url, GRPCInferenceServiceStub, "ModelInfer", direct),
                        c,
                        d,
                        {"triton": server.pid},
                    )
                )
            if vision_built:
                results += vision_bench.vision_without_batching(only, plain, server.pid, d)
    results.sort(key=lambda r: r.scenario)
    ort_rates = (
        onnxruntime_rows_per_s(repository / "risk_model" / "1" / "model.onnx", schema, args.batch_rows)
        if "f" in only
        else {}
    )
    meta = {
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "concurrency": c,
        "duration_s": d,
        "fraud_graph_rss_mib": fraud_rss,
        "ceilings": ceilings,
        "perf_analyzer": [m.as_json() for m in measured],
        "ocr_peer": ocr_peer,
        "branch_alone_p50_ms": steps_p50_ms,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {
        "meta": meta,
        "onnxruntime": ort_rates,
        "results": [{**asdict(r), "requests_per_s": r.requests_per_s, "rows_per_s": r.rows_per_s} for r in results],
    }
    (args.out / "bench.json").write_text(json.dumps(payload, indent=2) + "\n")
    table = markdown(results, ort_rates, meta)
    (args.out / "bench.md").write_text(table)
    print("\n" + table)
    return 0

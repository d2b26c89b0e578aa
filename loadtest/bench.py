"""`finfer bench`: one request stream through every path, side by side.

(a) front over HTTP, (b) front over gRPC, (c) Triton directly over gRPC, (d) Triton without
dynamic batching, (e) cache hits through the front, (f) the batch endpoint against onnxruntime
in-process; fraud rings: (g) one application at a time through the front (latency), (h) the
front under load, (i) Triton's fraud model directly; customer intent: (j) one message at a time
through the front (latency), (k) the front under load, (l) Triton's intent ensemble directly,
(m) a plain FastAPI endpoint running the same ONNX model per request (the baseline), beside the
in-process onnxruntime ceiling of the same pipeline on the same cores. Each scenario reports requests/s, latency
percentiles and CPU µs per request of each process (the load generator shares the 2 cores, so
CPU per request is steadier than throughput).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import orjson
from tritonclient.grpc.service_pb2_grpc import GRPCInferenceServiceStub

from finfer.clients import finfer_pb2, finfer_pb2_grpc
from finfer.clients.grpc_client import to_struct
from finfer.loadtest import stack
from finfer.loadtest.requests import intent_messages, unique_applicants
from finfer.models.risk import FeatureSchema
from finfer.pipelines import application, damage, documents, fraud, intent, risk
from finfer.pipelines.declaration import Pipeline
from finfer.settings import Settings

Send = Callable[[int], Awaitable[None]]


@dataclass
class Result:
    scenario: str
    description: str
    requests: int
    errors: int
    seconds: float
    rows_per_request: int = 1
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    cpu_us_per_request: dict[str, float] = field(default_factory=dict)
    # What `finfer capacity` sizes from this scenario: tier (triton, front-miss, front-hit) and model.
    tier: str | None = None
    model: str | None = None

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def rows_per_s(self) -> float:
        return self.requests_per_s * self.rows_per_request

    def as_json(self) -> dict:
        """The result's fields and its rate, for a bench's results file."""
        return asdict(self) | {"requests_per_s": self.requests_per_s}


async def drive(send: Send, concurrency: int, duration: float, warmup: float = 1.0) -> tuple[list[float], int, float]:
    """`concurrency` closed-loop workers calling send(i) with a shared counter; latencies after warm-up."""
    counter = iter(range(10**9))
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    measure_from = start + warmup
    stop = measure_from + duration

    async def worker() -> None:
        nonlocal errors
        while (now := time.perf_counter()) < stop:
            try:
                await send(next(counter))
            except Exception:
                errors += 1 if now >= measure_from else 0
                continue
            if now >= measure_from:
                latencies.append(time.perf_counter() - now)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors, time.perf_counter() - measure_from


def run_scenario(
    name: str,
    description: str,
    make_send: Callable[[], Awaitable[tuple[Send, Callable[[], Awaitable[None]]]]],
    concurrency: int,
    duration: float,
    pids: dict[str, int],
    rows_per_request: int = 1,
    tier: str | None = None,
    model: str | None = None,
) -> Result:
    async def main() -> Result:
        send, close = await make_send()
        before = {k: stack.tree_cpu_seconds(p) for k, p in pids.items()}
        before["load generator"] = stack.cpu_seconds(os.getpid())
        latencies, errors, seconds = await drive(send, concurrency, duration)
        after = {k: stack.tree_cpu_seconds(p) for k, p in pids.items()}
        after["load generator"] = stack.cpu_seconds(os.getpid())
        await close()
        n = max(len(latencies), 1)
        ms = np.array(latencies or [0.0]) * 1000
        # Warm-up CPU is included, so scale by the measured share of requests.
        total = len(latencies) * (1 + 1.0 / max(duration, 1e-9))
        return Result(
            scenario=name,
            description=description,
            requests=len(latencies),
            errors=errors,
            seconds=seconds,
            rows_per_request=rows_per_request,
            p50_ms=float(np.percentile(ms, 50)),
            p95_ms=float(np.percentile(ms, 95)),
            p99_ms=float(np.percentile(ms, 99)),
            cpu_us_per_request={k: round((after[k] - before[k]) / max(total, n) * 1e6, 1) for k in after},
            tier=tier,
            model=model,
        )

    import uvloop

    result = uvloop.run(main())
    print(
        f"  {name}: {result.requests_per_s:8.0f} req/s  {result.rows_per_s:9.0f} rows/s  "
        f"p50 {result.p50_ms:6.2f} ms  p95 {result.p95_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms  "
        f"errors {result.errors}  "
        f"CPU µs/req {result.cpu_us_per_request}",
        flush=True,
    )
    return result


def http_sender(url: str, path: str, bodies: list[bytes], concurrency: int, api_key: str | None = None):
    async def make() -> tuple[Send, Callable[[], Awaitable[None]]]:
        import aiohttp

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))
        headers = {"content-type": "application/json"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"

        async def send(i: int) -> None:
            async with session.post(url + path, data=bodies[i % len(bodies)], headers=headers) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(response.status)

        return send, session.close

    return make


def grpc_sender(target: str, stub_class: type, method: str, requests: list):
    """Closed-loop unary calls of `method` with pre-built request messages (the front's or Triton's API)."""

    async def make() -> tuple[Send, Callable[[], Awaitable[None]]]:
        import grpc

        channel = grpc.aio.insecure_channel(target)
        call = getattr(stub_class(channel), method)

        async def send(i: int) -> None:
            await call(requests[i % len(requests)], timeout=10)

        return send, channel.close

    return make


def direct_requests(pipeline: Pipeline, repository: Path, payloads: list) -> list:
    """Triton requests for `payloads`, encoded by the pipeline's own codec (what the front sends on a miss)."""
    from finfer.front.upstream import infer_request

    codec = pipeline.load(repository)
    return [infer_request(pipeline.triton_model, pipeline.infer_inputs(codec.encode([codec.row(p)]))) for p in payloads]


def fraud_scenarios(only: set[str], live: Settings, concurrency: int, duration: float, pids: dict) -> list:
    """Fraud-ring scoring against the graph the repository holds: unique applications, not persisted."""
    http_url = f"http://{live.front_host}:{live.http_port}"
    requests = fraud.PIPELINE.examples(30_000, 2)
    bodies = [orjson.dumps(r) for r in requests]
    out = []
    if "g" in only:
        send = http_sender(http_url, "/v1/fraud/score", bodies[:10_000], 1)
        out.append(run_scenario("g", "front, HTTP, fraud score, 1 client", send, 1, duration, pids))
    if "h" in only:
        send = http_sender(http_url, "/v1/fraud/score", bodies[10_000:20_000], concurrency)
        out.append(
            run_scenario(
                "h", "front, HTTP, fraud score", send, concurrency, duration, pids, tier="front-miss", model="fraud"
            )
        )
    if "i" in only:
        direct = direct_requests(fraud.PIPELINE, live.model_repository, requests[20_000:])
        send = grpc_sender(live.triton_grpc_url, GRPCInferenceServiceStub, "ModelInfer", direct)
        out.append(
            run_scenario(
                "i",
                f"Triton direct, {fraud.PIPELINE.triton_model}, dynamic batching",
                send,
                concurrency,
                duration,
                pids,
                tier="triton",
                model=fraud.PIPELINE.triton_model,
            )
        )
    return out


def intent_scenarios(only: set[str], live: Settings, concurrency: int, duration: float, pids: dict) -> list:
    http_url = f"http://{live.front_host}:{live.http_port}"
    messages = [body["text"] for body in intent.PIPELINE.examples(60_000, 21)]
    bodies = [orjson.dumps({"text": t}) for t in messages]
    out = []
    if "j" in only:
        send = http_sender(http_url, "/v1/intent", bodies[:10_000], 1)
        out.append(run_scenario("j", "front, HTTP, intent, 1 client", send, 1, duration, pids))
    if "k" in only:
        send = http_sender(http_url, "/v1/intent", bodies[10_000:50_000], concurrency)
        out.append(
            run_scenario(
                "k", "front, HTTP, intent", send, concurrency, duration, pids, tier="front-miss", model="intent"
            )
        )
    if "l" in only:
        direct = direct_requests(intent.PIPELINE, live.model_repository, [{"text": t} for t in messages[50_000:]])
        send = grpc_sender(live.triton_grpc_url, GRPCInferenceServiceStub, "ModelInfer", direct)
        out.append(
            run_scenario(
                "l",
                f"Triton direct, {intent.PIPELINE.triton_model}, dynamic batching",
                send,
                concurrency,
                duration,
                pids,
                tier="triton",
                model=intent.PIPELINE.triton_model,
            )
        )
    return out


def intent_baseline(repository: Path, concurrency: int, duration: float) -> Result:
    (port,) = stack.free_ports(1)
    bodies = [orjson.dumps({"text": t}) for t in intent_messages(20_000, seed=22)]
    with stack.plain_intent(repository, port) as process:
        send = http_sender(f"http://127.0.0.1:{port}", "/v1/intent", bodies, concurrency)
        return run_scenario(
            "m",
            "plain FastAPI, ONNX per request in-process, intent",
            send,
            concurrency,
            duration,
            {"front": process.pid},
        )


def intent_ceiling(repository: Path, batch: int = 64, seconds: float = 3.0) -> float:
    """Messages/s of the whole intent pipeline in one process on all cores: tokenize, encode, decode, in batches."""
    from finfer.exporters.intent import load_served

    served = load_served(repository, threads=os.cpu_count() or 1)
    messages = intent_messages(batch * 50, seed=23)
    n, start, i = 0, time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        n += len(served.answer(messages[i : i + batch]))
        i = (i + batch) % (len(messages) - batch)
    return n / (time.perf_counter() - start)


def onnxruntime_rows_per_s(model: Path, schema: FeatureSchema, batch: int, seconds: float = 3.0) -> dict:
    """The ceiling: the risk ONNX model in-process on one thread, one row at a time and in batches."""
    from finfer.exporters.risk import columns
    from finfer.models.risk import encode
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
    if "k" in by and meta.get("intent_ceiling_messages_per_s"):
        ceiling = meta["intent_ceiling_messages_per_s"]
        checks.append(("intent through front ≥ 70% of the in-process ceiling", by["k"].rows_per_s / ceiling, 0.7))
        lines += ["", f"Intent pipeline in-process on all cores (the ceiling): {ceiling:,.0f} messages/s."]
    if "k" in by and "m" in by:
        checks.append(("intent through front > plain FastAPI baseline", by["k"].rows_per_s / by["m"].rows_per_s, 1.0))
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
    if checks:
        lines += ["", "| target | measured ratio | goal | met |", "| --- | ---: | ---: | --- |"]
        lines += [f"| {t} | {v:.2f} | {g:.2f} | {'yes' if v >= g else 'no'} |" for t, v, g in checks]
    return "\n".join(lines) + "\n"


def main(args: argparse.Namespace) -> int:
    from finfer import paths
    from finfer.loadtest import application_bench, vision_bench

    settings = Settings()
    repository = settings.model_repository
    if not risk.PIPELINE.is_built(repository):
        print(f"error: {repository / risk.PIPELINE.meta} is missing: run `finfer build` first")
        return 1
    schema = FeatureSchema.load(repository / risk.PIPELINE.meta)
    only = set("".join(args.only or ["abcdefghijklmnopqrstuvwxyz"]))  # `--only wxyz` or `--only w --only x`
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

    intent_built = intent.PIPELINE.is_built(repository)
    vision_built = documents.PIPELINE.is_built(repository) and damage.PIPELINE.is_built(repository)
    ocr_peer = None
    steps_p50_ms: dict[str, float] = {}
    live = stack.bench_settings(repository, state)
    with stack.triton(live) as server, stack.front(live) as front:
        pids = {"front": front.pid, "triton": server.pid}
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
        if only & set("ghi") and fraud.PIPELINE.is_built(repository):
            results += fraud_scenarios(only, live, c, d, pids)
            graph_process = stack.find_child(server.pid, fraud.PIPELINE.triton_model)
            fraud_rss = round(stack.rss_bytes(graph_process) / 2**20) if graph_process else None
        if only & set("jkl") and intent_built:
            results += intent_scenarios(only, live, c, d, pids)
        if only & set("noprst") and vision_built:
            results += vision_bench.vision_scenarios(only, live, pids, d)
        if "v" in only and vision_built:
            ocr_peer = vision_bench.ocr_peer(http_url)
        if only & set("wxyz") and application.PIPELINE.is_built(repository):
            found, steps_p50_ms = application_bench.application_scenarios(only, live, pids, d, c)
            results += found
    intent_ceiling_rate = None
    if only & set("jklm") and intent_built:
        if "m" in only:
            results.append(intent_baseline(repository, c, d))
        intent_ceiling_rate = round(intent_ceiling(repository), 1)
        print(f"  intent ceiling in-process: {intent_ceiling_rate:,.0f} messages/s", flush=True)
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
        "intent_ceiling_messages_per_s": intent_ceiling_rate,
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

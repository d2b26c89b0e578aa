"""Which Triton metric tracks load: pending requests and queue/compute time at rising concurrency.

`python -m finfer.loadtest.autoscale_signals --concurrency 8 32 64` drives Triton directly (the bench's
scenario c) at each concurrency, samples `nv_inference_pending_request_count` while it runs and reads
the queue and compute counters before and after; the table it writes to
loadtest/results/autoscale_signals.md is what deploy/README.md picks the autoscaling target from.
"""

from __future__ import annotations

import argparse
import re
import threading
import urllib.request
from pathlib import Path

from tritonclient.grpc.service_pb2_grpc import GRPCInferenceServiceStub

from finfer import paths
from finfer.loadtest import bench, stack
from finfer.models.risk.applicants import unique_applicants
from finfer.models.risk.scoring import FeatureSchema

SERIES = re.compile(r'^(nv_inference_\w+)\{model="(\w+)",version="\d+"\} (\S+)$')
COUNTERS = ("nv_inference_queue_duration_us", "nv_inference_compute_infer_duration_us")


def scrape(url: str) -> dict[tuple[str, str], float]:
    with urllib.request.urlopen(url, timeout=5) as response:
        lines = response.read().decode().splitlines()
    return {(m[1], m[2]): float(m[3]) for m in map(SERIES.match, lines) if m}


def pending(sample: dict[tuple[str, str], float]) -> float:
    return sum(v for (name, _), v in sample.items() if name == "nv_inference_pending_request_count")


def sample_pending(url: str, samples: list[float], done: threading.Event, every_s: float = 0.2) -> None:
    while not done.wait(every_s):
        samples.append(pending(scrape(url)))


def queue_compute_ratio(before: dict, after: dict) -> float:
    """The largest per-model ratio of queue time to compute time over the run (the busiest step)."""
    ratios = []
    for (name, model), value in after.items():
        if name == COUNTERS[1]:
            compute = value - before.get((name, model), 0.0)
            queue = after.get((COUNTERS[0], model), 0.0) - before.get((COUNTERS[0], model), 0.0)
            if compute > 0:
                ratios.append(queue / compute)
    return max(ratios, default=0.0)


def measure(concurrency: list[int], duration: float, repository: Path, state: Path) -> list[dict]:
    schema = FeatureSchema.load(repository / "risk_features" / "1" / "schema.json")
    requests = bench.triton_requests(schema, unique_applicants(20_000, seed=3))
    settings = stack.bench_settings(repository, state)
    rows = []
    with stack.triton(settings) as server:
        for clients in concurrency:
            samples: list[float] = []
            done = threading.Event()
            sampler = threading.Thread(target=sample_pending, args=(settings.triton_metrics_url, samples, done))
            sampler.start()
            before = scrape(settings.triton_metrics_url)
            send = bench.grpc_sender(settings.triton_grpc_url, GRPCInferenceServiceStub, "ModelInfer", requests)
            result = bench.run_scenario("c", f"{clients} clients", send, clients, duration, {"triton": server.pid})
            after = scrape(settings.triton_metrics_url)
            done.set()
            sampler.join()
            rows.append(
                {
                    "clients": clients,
                    "requests_per_s": result.requests_per_s,
                    "p99_ms": result.p99_ms,
                    "pending_mean": sum(samples) / max(len(samples), 1),
                    "queue_compute_ratio": queue_compute_ratio(before, after),
                }
            )
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "# Autoscaling signals (Triton direct, risk pipeline, dynamic batching)",
        "",
        "| clients | req/s | p99 ms | pending requests (mean) | queue/compute (busiest model) |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {r['clients']} | {r['requests_per_s']:,.0f} | {r['p99_ms']:.1f} | {r['pending_mean']:.1f} | "
        f"{r['queue_compute_ratio']:.2f} |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32, 64])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per concurrency")
    parser.add_argument("--out", type=Path, default=paths.LOADTEST_RESULTS)
    args = parser.parse_args(argv)
    state = paths.STATE_DIR / "bench"
    state.mkdir(parents=True, exist_ok=True)
    table = markdown(measure(args.concurrency, args.duration, paths.MODEL_REPOSITORY, state))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "autoscale_signals.md").write_text(table)
    print("\n" + table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What every bench scenario is made of: a closed-loop driver, a timed run with CPU per process, senders.

`finfer bench` (bench.py) and the focused benches (application, vision, records, versions) build their
scenarios from these pieces.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from finfer.loadtest import stack
from finfer.pipelines.declaration import Pipeline

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

"""`finfer chaos`: mixed load on two Triton replicas while, in turn, a replica is SIGKILLed, a Python stub is
SIGKILLed (the Triton model of the mix's most frequent pipeline: `risk_score` by default, `document_ocr` with
`--mix documents=1`), Redis is SIGKILLed (and started again), and the replicas are restarted one after the other.

Each drill reports the answers by status, the slowest answer and the time to recover, and is held to what
the platform promises: idempotent requests never fail while another replica can answer; with Redis down only
the fraud score (which must read the shared graph) is refused, with a clear 503; after everything, every
application whose persisting was acknowledged is still in the graph. A heavy request refused at the front's
admission bound (503 `overloaded`, with Retry-After: docs/isolation.md) is shedding under load, promised as such;
it is counted apart (`shed`), not as a failure of the fault.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from finfer import paths
from finfer.loadtest import stack
from finfer.loadtest.cluster import Cluster, cluster
from finfer.loadtest.mix import DEFAULT_MIX, pipeline_weights
from finfer.loadtest.traffic import Traffic, missing, percentile
from finfer.pipelines.registry import BY_NAME
from finfer.triton_server import is_ready


@dataclass
class Drill:
    name: str
    may_fail: tuple[str, ...]  # pipelines allowed a 503 while the fault lasts (none: every answer must be 200)
    started: float = 0.0
    ended: float = 0.0
    answers: dict[str, int] = field(default_factory=dict)  # "pipeline status" → count
    failed: int = 0
    shed: int = 0  # refused at the admission bound (503 `overloaded`): not a failure
    p95_s: float = 0.0
    p95_by_pipeline: dict[str, float] = field(default_factory=dict)
    slowest_s: float = 0.0
    recovered_s: float = 0.0  # from the fault to the end of the last failed answer

    def problems(self) -> list[str]:
        found = []
        for key, count in self.answers.items():
            pipeline, status = key.split()
            if status not in ("200", "shed") and not (pipeline in self.may_fail and status == "503"):
                found.append(f"{self.name}: {count} × {pipeline} answered {status}")
        if self.recovered_s > 30:
            found.append(f"{self.name}: recovered only after {self.recovered_s:.1f}s (goal 30 s)")
        return found


@dataclass
class ChaosReport:
    clients: int
    mix: str
    stub: str  # the Triton model whose stub was killed
    drills: list[Drill]
    sent: int
    persisted: int
    missing: list[str]
    messages: dict[str, str]  # "pipeline status" → the first error body seen

    def problems(self) -> list[str]:
        found = [p for d in self.drills for p in d.problems()]
        if self.missing:
            found.append(f"{len(self.missing)} acknowledged applications missing from the graph: {self.missing[:5]}")
        return found

    def markdown(self) -> str:
        lines = [
            f"# finfer chaos: {self.clients} clients, 2 Triton replicas, {self.sent} requests",
            "",
            f"Mix `{self.mix}`; the Python stub killed: `{self.stub}`.",
            "",
            "| drill | answers | failed | shed | p95 | slowest | recovered after |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for d in self.drills:
            answers = ", ".join(f"{k}: {v}" for k, v in sorted(d.answers.items()))
            lines.append(
                f"| {d.name} | {answers} | {d.failed} | {d.shed} | {d.p95_s:.2f} s | {d.slowest_s:.2f} s | "
                f"{d.recovered_s:.1f} s |"
            )
        lines += [
            "",
            "`shed`: heavy requests refused at the front's admission bound (503 `overloaded` with Retry-After), the "
            "answer the platform promises when more images arrive than it runs at once; not counted as failed.",
            "",
            f"Persisted applications acknowledged: {self.persisted}; missing afterwards: {len(self.missing)}.",
            "",
            *(f"- first `{key}`: {text}" for key, text in sorted(self.messages.items())),
            "",
            "Verdict: " + ("passed" if not self.problems() else "FAILED: " + "; ".join(self.problems())),
        ]
        return "\n".join(lines) + "\n"


async def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await asyncio.to_thread(check):
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting {timeout_s:g}s for {what}")
        await asyncio.sleep(0.2)


def _close(drill: Drill, traffic: Traffic) -> Drill:
    # By when the answer came: a request sent just before the next fault and failed by it belongs to that one.
    window = [o for o in traffic.outcomes if drill.started <= o.sent_at + o.seconds < drill.ended]
    drill.answers = dict(Counter(o.answer for o in window))
    failures = [o for o in window if o.status != 200 and not o.shed]
    drill.failed = len(failures)
    drill.shed = sum(o.shed for o in window)
    drill.p95_s = percentile([o.seconds for o in window], 95)
    drill.p95_by_pipeline = {
        name: percentile([o.seconds for o in window if o.pipeline == name], 95)
        for name in sorted({o.pipeline for o in window})
    }
    drill.slowest_s = max((o.seconds for o in window), default=0.0)
    drill.recovered_s = max((o.sent_at + o.seconds - drill.started for o in failures), default=0.0)
    return drill


def stub_to_kill(mix: str) -> str:
    """The Triton model of the mix's most frequent pipeline: the stub whose death the load feels most."""
    weights = pipeline_weights(mix)
    return BY_NAME[max(weights, key=weights.__getitem__)].triton_model


async def drills(running: Cluster, traffic: Traffic, settle_s: float, redis_down_s: float, stub: str) -> list[Drill]:
    """The faults in turn; each drill lasts from its fault until it has recovered and settled."""

    def repaired() -> bool:
        return stack.metric(f"{running.url}/metrics", "finfer_stub_repairs_total", result="reloaded") >= 1

    # Fraud scores read the graph in Redis: once they answer again, Redis is back in use. A mix without them waits
    # for any answer.
    after_redis = "fraud" if "fraud" in traffic.mix else None

    def answers_since(moment: float) -> Callable[[], bool]:
        return lambda: any(
            (after_redis is None or o.pipeline == after_redis) and o.status == 200 and o.sent_at > moment
            for o in traffic.outcomes
        )

    async def kill_replica() -> None:
        running.kill_replica(0)
        await wait_for(lambda: not running.replicas[0].running, 10, "the killed replica to exit")
        # Two starts' worth: a start that hangs is stopped and started again after triton_startup_timeout_s.
        limit = 2 * running.replicas[0].settings.triton_startup_timeout_s + 30
        await wait_for(lambda: is_ready(running.replicas[0].settings.triton_http_url), limit, "its restart")

    async def kill_stub() -> None:
        running.kill_stub(1, stub)
        await wait_for(repaired, 60, f"the dead {stub} stub to be reloaded")

    async def kill_redis() -> None:
        running.redis.kill()
        await asyncio.sleep(redis_down_s)
        await asyncio.to_thread(running.redis.start)
        await wait_for(answers_since(time.monotonic()), 60, f"{after_redis or 'answers'} after Redis came back")

    def in_rotation(i: int) -> Callable[[], bool]:
        address = running.replicas[i].settings.triton_grpc_url
        gauge = "finfer_triton_replica_in_rotation"
        return lambda: stack.metric(f"{running.url}/metrics", gauge, replica=address) == 1

    async def rolling_restart() -> None:
        # As a rollout with one unavailable at a time: the next replica goes once the front uses this one again.
        for i in range(len(running.replicas)):
            await asyncio.to_thread(running.restart_replica, i)
            await wait_for(in_rotation(i), 30, f"the front to send to replica {i} again")

    plan: list[tuple[Drill, Callable[[], Awaitable[None]]]] = [
        (Drill("Triton replica SIGKILLed", ()), kill_replica),
        (Drill("Python stub SIGKILLed", ()), kill_stub),
        (Drill("Redis SIGKILLed", ("fraud",)), kill_redis),
        (Drill("rolling restart", ()), rolling_restart),
    ]
    done = []
    for drill, fault in plan:
        drill.started = time.monotonic()
        await fault()
        await asyncio.sleep(settle_s)
        drill.ended = time.monotonic()
        done.append(drill)
    for drill in done:
        _close(drill, traffic)
    return done


async def drive(
    running: Cluster, clients: int, warm_s: float, settle_s: float, redis_down_s: float, mix: str = DEFAULT_MIX
) -> ChaosReport:
    traffic = Traffic(running.url, clients, mix=pipeline_weights(mix))
    stub = stub_to_kill(mix)
    stop = asyncio.Event()
    load = asyncio.create_task(traffic.run(stop))
    try:
        await asyncio.sleep(warm_s)
        warm = Drill("no fault (warm-up)", (), started=time.monotonic() - warm_s, ended=time.monotonic())
        found = [_close(warm, traffic), *await drills(running, traffic, settle_s, redis_down_s, stub)]
    finally:
        stop.set()
        await load
    lost = await missing(running.url, traffic.persisted)
    return ChaosReport(clients, mix, stub, found, len(traffic.outcomes), len(traffic.persisted), lost, traffic.messages)


def run(
    repository: Path,
    workdir: Path,
    clients: int = 32,
    warm_s: float = 10.0,
    settle_s: float = 10.0,
    redis_down_s: float = 3.0,
    mix: str = DEFAULT_MIX,
    out: Path | None = paths.LOADTEST_RESULTS,
    progress: Callable[[str], None] = print,
) -> ChaosReport:
    progress("starting Redis, 2 Triton replicas and the front ...")
    with cluster(repository, workdir, replicas=2, probe_interval_s=1.0) as running:
        progress(f"driving {clients} clients; the faults follow in turn")
        report = asyncio.run(drive(running, clients, warm_s, settle_s, redis_down_s, mix))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "chaos.md").write_text(report.markdown())
        (out / "chaos.json").write_text(json.dumps(asdict(report), indent=2))
    return report

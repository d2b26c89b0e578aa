"""Bench scenarios w–z: loan applications, the complex path, against their peer.

(w) applications without images (credit file, fraud links, a message) one at a time; (x) the same
under load; (y) the peer: what integrators do today, the single endpoints called one after another
for the same applications (timed whole and per endpoint, so the slowest branch alone is known);
(z) applications with a contract page and a vehicle photo, one at a time.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import numpy as np
import orjson

from finfer.application.examples import applications
from finfer.loadtest.scenario import Result, Send, http_sender, run_scenario
from finfer.pipelines import application, fraud, intent, risk
from finfer.settings import Settings

PATH = application.PIPELINE.http_path


def _plain(n: int, seed: int) -> list[dict]:
    return applications(n, seed, "plain")


def sequential_sender(url: str, bodies: list[dict], steps: dict[str, list[float]]):
    """One client calling risk, fraud and intent one after another for each application (as the branches
    of a plain application); each step's latency lands in `steps`."""
    calls = [
        ("risk", risk.PIPELINE.http_path, lambda b: b["applicant"]),
        ("fraud", fraud.PIPELINE.http_path, lambda b: {"application_id": b["application_id"], **b["fraud"]}),
        ("intent", intent.PIPELINE.http_path, lambda b: {"text": b["message"]}),
    ]
    prepared = [[(name, path, orjson.dumps(part(b))) for name, path, part in calls] for b in bodies]

    async def make() -> tuple[Send, Callable[[], Awaitable[None]]]:
        import aiohttp

        session = aiohttp.ClientSession()
        headers = {"content-type": "application/json"}

        async def send(i: int) -> None:
            for name, path, data in prepared[i % len(prepared)]:
                started = time.perf_counter()
                async with session.post(url + path, data=data, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"{path}: {response.status}")
                steps[name].append(time.perf_counter() - started)

        return send, session.close

    return make


def application_scenarios(only: set[str], live: Settings, pids: dict[str, int], duration: float, clients: int):
    url = f"http://{live.front_host}:{live.http_port}"
    out: list[Result] = []
    steps: dict[str, list[float]] = {"risk": [], "fraud": [], "intent": []}
    if "w" in only:
        bodies = [orjson.dumps(b) for b in _plain(5_000, 601)]
        send = http_sender(url, PATH, bodies, 1)
        out.append(run_scenario("w", "front, HTTP, applications without images, 1 client", send, 1, duration, pids))
    if "x" in only:
        bodies = [orjson.dumps(b) for b in _plain(20_000, 602)]
        send = http_sender(url, PATH, bodies, clients)
        description = "front, HTTP, applications without images"
        out.append(
            run_scenario(
                "x", description, send, clients, duration, pids, tier="front-miss", model=application.PIPELINE.name
            )
        )
    if "y" in only:
        send = sequential_sender(url, _plain(5_000, 603), steps)
        description = "peer: risk, fraud, intent endpoints one after another, 1 client"
        out.append(run_scenario("y", description, send, 1, duration, pids))
    if "z" in only:
        bodies = [orjson.dumps(b) for b in applications(200, 604, "images")]
        send = http_sender(url, PATH, bodies, 1)
        description = "front, HTTP, applications with a contract page and a vehicle photo, 1 client"
        out.append(run_scenario("z", description, send, 1, duration, pids))
    slowest = {name: float(np.percentile(np.array(v) * 1000, 50)) for name, v in steps.items() if v}
    return out, slowest


def application_checks(by: dict[str, Result], steps_p50_ms: dict[str, float]) -> list[tuple[str, float, float]]:
    checks = []
    if "x" in by:
        checks.append(
            ("applications without images: p95 ≤ 200 ms under load (ratio 200 / p95)", 200 / by["x"].p95_ms, 1)
        )
    if "w" in by and steps_p50_ms:
        name, slowest = max(steps_p50_ms.items(), key=lambda kv: kv[1])
        checks.append(
            (f"application p50 ≤ 1.2× the slowest branch alone ({name}, {slowest:.2f} ms; ratio 1.2·branch / p50)",
             1.2 * slowest / by["w"].p50_ms, 1)
        )  # fmt: skip
    if "w" in by and "y" in by:
        checks.append(("application ≤ 0.5× the sequential calls, p50 (ratio 0.5·sequential / application)",
                       0.5 * by["y"].p50_ms / by["w"].p50_ms, 1))  # fmt: skip
    if "z" in by:
        checks.append(("with a page and a photo: p95 ≤ 400 ms, 1 client (ratio 400 / p95)", 400 / by["z"].p95_ms, 1))
    return checks

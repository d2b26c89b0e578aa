"""Mixed traffic for fault drills and soaks: every answer recorded with its status, time and pipeline.

Requests are distinct (no cache flatters them). Fraud requests persist a new application that shares a
device with nothing else, so that afterwards each persisted application can be looked up by its device.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from finfer.loadtest.mix import pipeline_weights
from finfer.pipelines.registry import BY_NAME

NO_ANSWER = 0  # the status recorded when no HTTP answer came back (connection refused, timeout)


@dataclass(frozen=True)
class Outcome:
    sent_at: float  # time.monotonic()
    pipeline: str
    status: int
    seconds: float
    shed: bool = False  # a 503 `overloaded`: refused at the front's admission bound, with Retry-After

    @property
    def answer(self) -> str:
        """`pipeline status`, with `shed` for the status of a request refused at the admission bound."""
        return f"{self.pipeline} {'shed' if self.shed else self.status}"


def device_of(application_id: str) -> str:
    return f"drill-device-{application_id}"


# Rendering a page takes the load generator longer than Triton takes to read it: image pipelines cycle a pool
# rendered once. Neither the front nor Triton caches their answers, so a repeat costs what a new image does.
IMAGE_POOL = 16


def bodies(pipeline: str, seed: int, persist: bool = True) -> Iterator[dict[str, Any]]:
    """Bodies for one pipeline, endlessly, in chunks of the declaration's own examples: distinct, but for
    images (IMAGE_POOL)."""
    if BY_NAME[pipeline].body == "image":
        yield from itertools.cycle(BY_NAME[pipeline].examples(IMAGE_POOL, seed))
    for chunk in itertools.count():
        for i, body in enumerate(BY_NAME[pipeline].examples(200, seed * 1000 + chunk % 1000)):
            if pipeline == "fraud":
                application_id = f"drill-{seed}-{chunk}-{i}"
                body = {**body, "application_id": application_id, "persist": persist}
                body["links"] = {**body["links"], "device": [device_of(application_id)]}
            yield body


@dataclass
class Traffic:
    url: str
    clients: int
    mix: dict[str, float] = field(default_factory=pipeline_weights)
    rate: float | None = None  # requests a second over all clients; None: each client sends back to back
    persist: bool = True  # fraud requests persist their application
    seed: int = 0
    timeout_s: float = 30.0
    outcomes: list[Outcome] = field(default_factory=list)
    persisted: list[str] = field(default_factory=list)
    messages: dict[str, str] = field(default_factory=dict)  # "pipeline status" → the first error message seen

    async def run_for(self, seconds: float) -> None:
        stop = asyncio.Event()
        load = asyncio.create_task(self.run(stop))
        await asyncio.sleep(seconds)
        stop.set()
        await load

    async def run(self, stop: asyncio.Event) -> None:
        streams = {name: bodies(name, self.seed, self.persist) for name in self.mix}
        limits = httpx.Limits(max_connections=self.clients, max_keepalive_connections=self.clients)
        async with httpx.AsyncClient(base_url=self.url, timeout=self.timeout_s, limits=limits) as http:
            await asyncio.gather(*(self._client(http, streams, c, stop) for c in range(self.clients)))

    async def _client(self, http: httpx.AsyncClient, streams: dict, client: int, stop: asyncio.Event) -> None:
        rng = random.Random(self.seed * 7919 + client)
        names, weights = list(self.mix), list(self.mix.values())
        interval = self.clients / self.rate if self.rate else 0.0
        due = time.monotonic() + rng.uniform(0, interval)
        while not stop.is_set():
            if interval:
                # Open loop: a client keeps its schedule whatever the answers' times (as independent callers do).
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                due += interval
            name = rng.choices(names, weights)[0]
            await self._send(http, name, next(streams[name]))

    async def _send(self, http: httpx.AsyncClient, name: str, body: dict[str, Any]) -> None:
        started = time.monotonic()
        shed = False
        try:
            response = await http.post(BY_NAME[name].http_path, json=body)
            status = response.status_code
            shed = status == 503 and b'"code":"overloaded"' in response.content
        except httpx.HTTPError:
            status = NO_ANSWER
        outcome = Outcome(started, name, status, time.monotonic() - started, shed)
        self.outcomes.append(outcome)
        if status != 200:
            text = "no answer" if status == NO_ANSWER else response.text[:300]
            self.messages.setdefault(outcome.answer, text)
        if name == "fraud" and status == 200 and response.json().get("persisted"):
            self.persisted.append(body["application_id"])

    def statuses(self) -> Counter[str]:
        """Every answer so far by `pipeline status` (`shed` for a refusal at the admission bound)."""
        return Counter(o.answer for o in self.outcomes)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0 to 100), interpolated as `finfer bench` does; 0 when there are no values."""
    return float(np.percentile(values, q)) if len(values) else 0.0


async def missing(url: str, persisted: list[str], clients: int = 8) -> list[str]:
    """Persisted applications the graph no longer has: each is looked up by its own device (not persisted)."""
    lost: list[str] = []
    queue = list(persisted)
    template = next(bodies("fraud", seed=999_999))

    async def worker(http: httpx.AsyncClient) -> None:
        while queue:
            application_id = queue.pop()
            body = {**template, "application_id": f"lookup-{application_id}"[:64], "persist": False}
            body["links"] = {"device": [device_of(application_id)]}
            for _ in range(5):  # a 503 is not an answer about the graph: ask again
                response = await http.post(BY_NAME["fraud"].http_path, json=body)
                if response.status_code != 503:
                    break
                await asyncio.sleep(1)
            neighbours = response.json()["evidence"]["suspicious_neighbours"] if response.status_code == 200 else []
            found = application_id in neighbours
            if not found:
                lost.append(application_id)

    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        await asyncio.gather(*(worker(http) for _ in range(clients)))
    return lost

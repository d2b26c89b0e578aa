"""Dead Python stubs: seen, failed fast, reloaded.

A Python-backend stub that dies (killed for memory, a crash in a native library) leaves Triton's health
and every model's readiness green, and each request through it fails with INTERNAL "Stub process
'<model>_0_0' is not healthy" after about a second. The front reads that message in an answer or in a
probe, marks the pipeline down (its requests get 503 + Retry-After at once, and /readyz and the gRPC
health service say so), unloads and loads the dead model (Triton runs in explicit model-control mode,
where that starts a fresh stub), and marks the pipeline up again once a probe through it answers.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import Awaitable, Callable

from finfer.errors import FrontError, Unavailable
from finfer.front import metrics

_DEAD_STUB = re.compile(r"Stub process '(?P<model>[\w.-]+?)_\d+_\d+' is not healthy")


def dead_model(message: str) -> str | None:
    """The model whose stub died, from Triton's error message; None when it says something else."""
    match = _DEAD_STUB.search(message)
    return match.group("model") if match else None


class StubRepair:
    def __init__(
        self,
        reload: Callable[[str], Awaitable[None]],
        probe: Callable[[str], Awaitable[None]],
        timeout_s: float,
    ) -> None:
        self.reload = reload
        self.probe = probe
        self.timeout_s = timeout_s
        self.down: dict[str, str] = {}  # pipeline → the model being reloaded
        self._tasks: set[asyncio.Task] = set()

    def check(self, pipeline: str) -> None:
        """Fail fast while the pipeline is being repaired, instead of after Triton's own second."""
        if pipeline in self.down:
            raise Unavailable(f"{pipeline}: its step {self.down[pipeline]} is being restarted; retry shortly")

    def saw(self, pipeline: str, error: FrontError) -> bool:
        """An upstream error of `pipeline`; True when it names a dead stub (its repair has begun)."""
        model = dead_model(error.message)
        if model is None:
            return False
        if pipeline not in self.down:
            self.down[pipeline] = model
            print(f"finfer front: {pipeline}: the {model} stub is dead; reloading it", file=sys.stderr, flush=True)
            task = asyncio.create_task(self._repair(pipeline, model))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return True

    async def _repair(self, pipeline: str, model: str) -> None:
        started = time.monotonic()
        while time.monotonic() - started < self.timeout_s:
            try:
                await self.reload(model)
                await self.probe(pipeline)
            except FrontError as error:
                # Another step of the pipeline may have died too: reload that one next.
                model = dead_model(error.message) or model
                self.down[pipeline] = model
                await asyncio.sleep(1.0)
                continue
            metrics.STUB_REPAIRS.labels(model, "reloaded").inc()
            del self.down[pipeline]
            took = time.monotonic() - started
            print(f"finfer front: {pipeline}: {model} reloaded, answering again after {took:.1f}s", file=sys.stderr)
            return
        # Left down (not ready) for a person or a Triton restart: a stub that will not come back.
        metrics.STUB_REPAIRS.labels(model, "failed").inc()
        print(f"finfer front: {pipeline}: {model} did not come back in {self.timeout_s:g}s", file=sys.stderr)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()

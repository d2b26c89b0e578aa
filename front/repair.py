"""Dead Python stubs: seen, failed fast, reloaded.

A Python-backend stub that dies (killed for memory, a crash in a native library) leaves Triton's health
and every model's readiness green, and each request through it fails with INTERNAL "Stub process
'<model>_0_0' is not healthy" after about a second. The front reads that message in an answer or in a
probe, stops sending that model to that replica (its requests go to another replica, or get 503 +
Retry-After at once when none is left, and /readyz and the gRPC health service say so), unloads and loads
the dead model there (Triton runs in explicit model-control mode, where that starts a fresh stub), and
sends it there again once a probe through it answers.

Only the models the front probes (each pipeline's version 1) are repaired. Natively, a candidate version's
ensemble shares its step models with version 1 (one Triton model, several version folders), and reloading a
step restarts every version of it, the served one too: a candidate's dead stub is left dead, its calls fail,
the split hands its rows to the baseline and rollback takes its weight (a shadow's copies are counted failed).
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import Awaitable, Callable

from finfer.errors import FrontError
from finfer.front import metrics
from finfer.front.replicas import Replica

_DEAD_STUB = re.compile(r"Stub process '(?P<model>[\w.-]+?)_\d+_\d+' is not healthy")


def dead_model(message: str) -> str | None:
    """The model whose stub died, from Triton's error message; None when it says something else."""
    match = _DEAD_STUB.search(message)
    return match.group("model") if match else None


class StubRepair:
    """Dead stubs of each replica: a model whose stub died on one replica is avoided there while it reloads."""

    def __init__(
        self,
        reload: Callable[[Replica, str], Awaitable[None]],
        probe: Callable[[Replica, str], Awaitable[None]],
        timeout_s: float,
        give_up: Callable[[str], None] | None = None,
        repairable: Callable[[str], bool] = lambda model: True,
    ) -> None:
        self.reload = reload
        self.probe = probe
        self.repairable = repairable  # whether a model called may be reloaded (it has a probe to check it by)
        self.left: set[tuple[str, str]] = set()  # (replica, model called) whose dead stub is not reloaded
        self.timeout_s = timeout_s
        self.give_up = give_up  # what to do with a replica whose stub will not come back (restart it)
        self.down: dict[tuple[str, str], str] = {}  # (replica, model called) → the step being reloaded
        self._tasks: set[asyncio.Task] = set()

    def is_down(self, replica: Replica, model: str) -> bool:
        return (replica.address, model) in self.down

    def steps_down(self, model: str) -> list[str]:
        return [step for (_, called), step in self.down.items() if called == model]

    def saw(self, replica: Replica, model: str, error: FrontError) -> bool:
        """An error of a call to `model` on `replica`; True when it names a dead stub (its repair has begun)."""
        step = dead_model(error.message)
        if step is None:
            return False
        if not self.repairable(model):
            if (replica.address, model) not in self.left:
                self.left.add((replica.address, model))
                metrics.STUB_REPAIRS.labels(step, "left").inc()
                print(
                    f"finfer front: {model} on {replica.address}: the {step} stub is dead; not reloading it "
                    "(only the served version is repaired: reloading a candidate's step can restart the served one)",
                    file=sys.stderr,
                    flush=True,
                )
            return True
        if (replica.address, model) not in self.down:
            self.down[replica.address, model] = step
            print(
                f"finfer front: {model} on {replica.address}: the {step} stub is dead; reloading it",
                file=sys.stderr,
                flush=True,
            )
            task = asyncio.create_task(self._repair(replica, model, step))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return True

    async def _repair(self, replica: Replica, model: str, step: str) -> None:
        started = time.monotonic()
        while time.monotonic() - started < self.timeout_s:
            try:
                await self.reload(replica, step)
                await self.probe(replica, model)
            except FrontError as error:
                # Another step of the pipeline may have died too: reload that one next.
                step = dead_model(error.message) or step
                self.down[replica.address, model] = step
                await asyncio.sleep(1.0)
                continue
            metrics.STUB_REPAIRS.labels(step, "reloaded").inc()
            del self.down[replica.address, model]
            took = time.monotonic() - started
            print(f"finfer front: {model} on {replica.address}: {step} reloaded, answering again after {took:.1f}s")
            return
        # Reloading does not help: restart that Triton where this front may (`finfer serve` supervises its
        # own); elsewhere the next failure there starts another repair.
        metrics.STUB_REPAIRS.labels(step, "failed").inc()
        print(f"finfer front: {model} on {replica.address}: {step} did not come back in {self.timeout_s:g}s")
        del self.down[replica.address, model]
        if self.give_up is not None:
            self.give_up(replica.address)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()

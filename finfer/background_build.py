"""`finfer serve` on a repository not fully built: what is built serves at once, the rest is built meanwhile.

The families left are built one after another, quickest first (`Pipeline.build_time`; one that `composes` the
others after them), each in a child process (`finfer build --family F`) at a lower CPU priority, so that the
front and Triton keep the cores they need. The child is in `finfer serve`'s process group: Ctrl-C stops it, and
so does a stop of `finfer serve`. As a build ends, its models are added to what every Triton loads at
a (re)start, loaded into the running ones (explicit model control), and the front serves the pipeline: until
then its routes answer 503 `not_built` with the build's step and ETA, and /readyz reports it `building` or
`failed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

from finfer.build_progress import Board, Display, Phase, clock, summary
from finfer.errors import FrontError
from finfer.front.dataplane import DataPlane
from finfer.front.served import Served
from finfer.pipelines.declaration import Pipeline
from finfer.triton_server import TritonServer

# The build yields the cores to serving: nice 10 gets about a tenth of a core a busy one gets.
BUILD_NICENESS = 10
# A model whose Python stub cannot start can keep Triton's load call waiting for good (seen here with a
# model.py missing): the pipeline is failed after this long instead of building for ever.
LOAD_TIMEOUT_S = 120.0


def build_order(pipelines: Sequence[Pipeline], profile: str) -> list[Pipeline]:
    """Quickest first, so that the most pipelines answer soonest; those that compose the others last."""
    return sorted(pipelines, key=lambda p: (p.composes, p.build_time.of(profile)))


def served_models(repository: Path, pipelines: Sequence[Pipeline]) -> list[str]:
    """The Triton models serving `pipelines`, every built version (the embedded flavour runs each pipeline's
    steps inside its one model: runtime/in_process.py)."""
    return [p.model_name(v) for p in pipelines for v in p.versions(repository)]


class BackgroundBuild:
    """The pipelines `finfer serve` builds while it serves; the data plane asks it how each build is going."""

    def __init__(
        self,
        pipelines: Sequence[Pipeline],
        profile: str,
        repository: Path,
        display: Display,
        tritons: Sequence[TritonServer] = (),
        policy: Path | None = None,
    ) -> None:
        self.pipelines = build_order(pipelines, profile)
        self.profile = profile
        self.repository = repository
        self.display = display
        self.board = display.board
        self.tritons = tritons
        self.policy = policy
        self.failures: dict[str, str] = {}
        self._families = {p.name: p.family for p in self.pipelines}

    @classmethod
    def board_for(cls, pipelines: Sequence[Pipeline], profile: str) -> Board:
        return Board({p.family: p.build_time.of(profile) for p in build_order(pipelines, profile)})

    # What the data plane asks (front/dataplane.py's Builds).
    def failure(self, name: str) -> str | None:
        return self.failures.get(name)

    def eta_s(self, name: str) -> float:
        return self.board.eta_s(self._families[name])

    def step(self, name: str) -> str:
        return self.board.families[self._families[name]].step

    def command(self, pipeline: Pipeline) -> list[str]:
        """The child process that builds one family into the served repository."""
        command = [sys.executable, "-m", "finfer.cli", "build", "--family", pipeline.family]
        command += ["--profile", self.profile, "--out", str(self.repository)]
        if pipeline.family == "application" and self.policy is not None:
            command += ["--policy", str(self.policy)]
        return command

    def left(self) -> str:
        return summary(self.board, self.board.waiting())

    async def run(self, plane: DataPlane, publish: Callable[[Served], None]) -> None:
        """Build, load and serve each pipeline in turn; a failed one is reported and the others go on."""
        for pipeline in self.pipelines:
            family = pipeline.family
            self.board.start(family)
            try:
                await self._build(pipeline)
                self.board.set(family, Phase.LOADING, "loading into Triton")
                await self._load(plane, pipeline, publish)
            except Exception as error:
                # Whatever failed (the build, Triton's load, the codec's), it is this pipeline's failure: shown,
                # and its routes answer 503 with it; the next family is built all the same.
                reason = error.message if isinstance(error, FrontError) else str(error) or type(error).__name__
                self.failures[pipeline.name] = reason
                self.board.set(family, Phase.FAILED, reason)
                self.display.note(f"[{family}] failed: {reason}; {pipeline.name} answers 503 until it is built")
                continue
            spent = clock(self.board.families[family].elapsed(self.board.now()))
            self.board.set(family, Phase.DONE, f"serving {pipeline.http_path}")
            self.display.note(f"{pipeline.name} is ready ({family} built in {spent}); {self.left()}")
        self.display.close()

    async def _build(self, pipeline: Pipeline) -> None:
        environment = dict(os.environ, PYTHONUNBUFFERED="1")
        child = await asyncio.create_subprocess_exec(
            *self.command(pipeline),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
            env=environment,
        )
        # Set from here, not in the child between fork and exec: a preexec function forces a plain fork, whose
        # handlers gRPC's threads in this process complain about on every build.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.setpriority(os.PRIO_PROCESS, child.pid, BUILD_NICENESS)
        last: deque[str] = deque(maxlen=20)
        try:
            assert child.stdout is not None
            async for raw in child.stdout:
                line = raw.decode(errors="replace").strip()
                if line:
                    last.append(line)
                    self.display.progress(line)
            code = await child.wait()
        finally:
            if child.returncode is None:  # serve is stopping: the build stops with it
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
                await child.wait()
        if code != 0:
            said = next((line for line in reversed(last) if line.strip()), "")
            raise BuildFailed(f"`finfer build --family {pipeline.family}` exited with {code}: {said}")

    async def _load(self, plane: DataPlane, pipeline: Pipeline, publish: Callable[[Served], None]) -> None:
        if not pipeline.is_built(self.repository):
            raise BuildFailed(f"the build ended without writing {pipeline.meta}")
        models = served_models(self.repository, [pipeline])
        before = [triton.models for triton in self.tritons]
        for triton in self.tritons:
            # Before the load: a replica that restarts from now on loads them too.
            triton.models = [*(triton.models or []), *models]
        try:
            await plane.upstream.load(models, LOAD_TIMEOUT_S)
            publish(plane.add(pipeline))
        except Exception:
            # A model Triton refuses would stop every later start of it: not loaded at a restart either.
            for triton, models_before in zip(self.tritons, before, strict=True):
                triton.models = models_before
            raise


class BuildFailed(Exception):
    """A family's build exited with an error, or wrote nothing the front can serve."""

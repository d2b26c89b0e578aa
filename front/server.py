"""Run the front: the HTTP app and the gRPC server in one asyncio loop, sharing one data plane."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable

import uvicorn
from grpc_health.v1 import health

from finfer.front.dataplane import DataPlane
from finfer.front.grpc_server import create_server, report_health
from finfer.front.http_app import create_app
from finfer.front.upstream import TritonUpstream
from finfer.settings import Settings

Restart = Callable[[str], None]


async def serve(settings: Settings, stop: asyncio.Event | None = None, restart: Restart | None = None) -> None:
    """Serve until `stop` is set or SIGINT/SIGTERM arrives; in-flight requests finish first.

    `restart(address)` restarts a Triton replica whose dead stub would not reload (by default nothing: the
    next failure there starts another repair)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    upstream = TritonUpstream(settings, restart)
    await upstream.start()
    plane = DataPlane.from_repository(settings, upstream)
    app = create_app(plane, settings)
    http = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.front_host,
            port=settings.http_port,
            log_level="warning",
            access_log=False,
            loop="none",
            lifespan="off",
            timeout_graceful_shutdown=5,
        )
    )
    # uvicorn would capture SIGINT/SIGTERM itself and close its port at once, before the drain.
    http.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    largest = max(settings.max_image_bytes + 64 * 1024, settings.max_application_bytes)
    grpc_server, checks = create_server(plane, f"{settings.front_host}:{settings.grpc_port}", largest)
    await grpc_server.start()
    health_task = asyncio.create_task(keep_health(plane, checks, max(settings.readiness_cache_s, 0.5)))
    http_task = asyncio.create_task(http.serve())
    print(
        f"finfer front: HTTP http://{settings.front_host}:{settings.http_port} "
        f"(docs /docs), gRPC {settings.front_host}:{settings.grpc_port}",
        flush=True,
    )
    stop_task = asyncio.create_task(stop.wait())
    await asyncio.wait({http_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    health_task.cancel()
    # Drain: not ready first (HTTP /readyz 503, every gRPC service NOT_SERVING) while still answering,
    # so that load balancers stop sending before the ports close; then in-flight requests finish.
    plane.draining = True
    await checks.enter_graceful_shutdown()
    if settings.drain_s and not http_task.done():
        print(f"finfer front: draining for {settings.drain_s:g}s", flush=True)
        await asyncio.sleep(settings.drain_s)
    http.should_exit = True
    await grpc_server.stop(grace=5)
    await http_task
    await plane.close()
    await upstream.close()


async def keep_health(plane: DataPlane, checks: health.aio.HealthServicer, interval_s: float) -> None:
    while True:
        await report_health(plane, checks)
        await asyncio.sleep(interval_s)


def run(settings: Settings, restart: Restart | None = None) -> None:
    import uvloop

    uvloop.run(serve(settings, restart=restart))

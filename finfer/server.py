"""Run the front: the HTTP app and the gRPC server in one asyncio loop, sharing one data plane, with the back
office's routes and services beside the pipelines'. `python -m finfer.server` runs it against a Triton already
running (FINFER_* settings)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import sqlalchemy as sa
import uvicorn
from grpc_health.v1 import health

from finfer.access import keys
from finfer.access.guard import Guard
from finfer.access.keys import KeyRecord
from finfer.application.policy import PolicyError
from finfer.errors import InvalidArgument
from finfer.front.dataplane import DataPlane
from finfer.front.grpc_server import create_server, report_health
from finfer.front.http_app import create_app, json_response, publish
from finfer.front.recorder import Recorder
from finfer.front.split_sync import SplitSync
from finfer.front.upstream import TritonUpstream
from finfer.loans.grpc_api import LOANS_SERVICE, loans_handler
from finfer.loans.http_api import loans_router
from finfer.loans.pages import warning_pages
from finfer.loans.service import LoanService
from finfer.loans.treatments import DEFAULT_TREATMENTS, load_treatments
from finfer.office.admin_api import admin_router
from finfer.office.records_api import RECORDS_SERVICE, Records, records_handler, records_router
from finfer.office.review_pages import review_pages
from finfer.settings import Settings
from finfer.store.database import DatabaseError, SchemaTooNew, connect, database_url, describe, failure, migrate
from finfer.store.decisions import DecisionStore
from finfer.store.digests import Digester, record_key
from finfer.store.loans import Ledger
from finfer.store.spool import Spool

if TYPE_CHECKING:
    from finfer.background_build import BackgroundBuild

log = logging.getLogger("finfer.front")

Restart = Callable[[str], None]


async def serve(
    settings: Settings,
    stop: asyncio.Event | None = None,
    restart: Restart | None = None,
    build: BackgroundBuild | None = None,
) -> None:
    """Serve until `stop` is set or SIGINT/SIGTERM arrives; in-flight requests finish first.

    `restart(address)` restarts a Triton replica whose dead stub would not reload (by default nothing: the
    next failure there starts another repair). `build`: pipelines `finfer serve` builds while this serves the
    others (their routes answer 503 `not_built` until each is built and loaded)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    engine = open_store(settings)
    guard = Guard(settings.auth_required, read_keys(engine) if settings.auth_required else None)
    store = DecisionStore(engine)
    recorder = None
    if settings.record_decisions:
        spool = Spool(settings.state_dir / "spool" / "records.jsonl", settings.spool_max_records)
        recorder = Recorder(store, spool, Digester(record_key(settings)), settings.spool_retry_s)
        recorder.start()
    upstream = TritonUpstream(settings, restart)
    await upstream.start()
    try:
        pending = build.pipelines if build is not None else ()
        plane = DataPlane.from_repository(settings, upstream, recorder, pending, build)
    except InvalidArgument as exc:
        raise StartupError(f"FINFER_SPLITS: {exc.message}") from None
    shared_splits = SplitSync(plane.versions, engine, settings.splits_refresh_s, settings.retry_after_s)
    await shared_splits.start()
    records = Records(store)
    try:
        treatments = load_treatments(settings.treatments_file or DEFAULT_TREATMENTS)
    except PolicyError as exc:
        raise StartupError(f"the treatments policy cannot be served: {exc}") from None
    loans = LoanService(Ledger(engine), plane, treatments, store)
    office = [records_router(records, guard, json_response), review_pages(records, guard)]
    routers = [
        loans_router(loans, guard, settings),
        warning_pages(loans, guard),
        *office,
        admin_router(plane, shared_splits, guard, json_response),
    ]
    app = create_app(plane, settings, guard, routers)
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
    address = f"{settings.front_host}:{settings.grpc_port}"
    office_services = [
        (RECORDS_SERVICE.full_name, records_handler(records, guard)),
        (LOANS_SERVICE.full_name, loans_handler(loans, guard)),
    ]
    grpc_server, checks = create_server(plane, address, largest, guard, office_services)
    await grpc_server.start()
    health_task = asyncio.create_task(keep_health(plane, checks, max(settings.readiness_cache_s, 0.5)))
    keys_task = asyncio.create_task(keep_keys(guard, engine, settings.keys_refresh_s)) if guard.enabled else None
    http_task = asyncio.create_task(http.serve())
    print(
        f"finfer front: HTTP http://{settings.front_host}:{settings.http_port} "
        f"(docs /docs, reviews /review), gRPC {settings.front_host}:{settings.grpc_port}",
        flush=True,
    )
    print(
        f"finfer front: {access_line(settings, guard)}; decisions recorded in {describe(database_url(settings))}",
        flush=True,
    )
    if build is not None:
        print(f"finfer front: serving {', '.join(plane.served) or 'nothing yet'}; {build.left()}", flush=True)
        build_task = asyncio.create_task(build.run(plane, lambda served: publish(app, served, plane, settings, guard)))
    stop_task = asyncio.create_task(stop.wait())
    await asyncio.wait({http_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    health_task.cancel()
    if build is not None:
        build_task.cancel()  # its child build is killed
        with contextlib.suppress(asyncio.CancelledError):
            await build_task
    if keys_task is not None:
        keys_task.cancel()
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
    await shared_splits.close()
    await plane.close()
    await upstream.close()
    if recorder is not None:
        await recorder.close()
    engine.dispose()


class StartupError(Exception):
    """The front cannot start as configured; the message says why and what to do."""


def open_store(settings: Settings) -> sa.Engine:
    """The decision store's database, migrated to this finfer's schema, or a StartupError naming it."""
    url = database_url(settings)
    engine = connect(settings)
    try:
        migrate(engine)
    except (DatabaseError, SchemaTooNew) as exc:
        engine.dispose()
        reason = exc if isinstance(exc, SchemaTooNew) else failure(exc)
        raise StartupError(f"the decision store {describe(url)} cannot be opened: {reason}") from None
    return engine


def read_keys(engine: sa.Engine) -> dict[str, KeyRecord]:
    try:
        return keys.active(engine)
    except DatabaseError as exc:
        raise StartupError(f"the API keys cannot be read: {failure(exc)}") from None


def access_line(settings: Settings, guard: Guard) -> str:
    if not guard.enabled:
        return "access control off (loopback only; FINFER_AUTH=on requires API keys)"
    count = len(guard.keys)
    hint = "" if count else ": every request is refused until `finfer keys create` makes one"
    return f"access control on, {count} active API key{'s' if count != 1 else ''}{hint}"


async def keep_keys(guard: Guard, engine: sa.Engine, interval_s: float) -> None:
    """Read the keys again every interval: creations and revocations take effect without a restart. A database
    that does not answer keeps the last keys read."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            guard.replace(await asyncio.to_thread(keys.active, engine))
        except DatabaseError:
            log.warning("finfer front: the API keys could not be read again; keeping the last ones")


async def keep_health(plane: DataPlane, checks: health.aio.HealthServicer, interval_s: float) -> None:
    while True:
        await report_health(plane, checks)
        await asyncio.sleep(interval_s)


def run(settings: Settings, restart: Restart | None = None, build: BackgroundBuild | None = None) -> None:
    import uvloop

    try:
        uvloop.run(serve(settings, restart=restart, build=build))
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


if __name__ == "__main__":  # `python -m finfer.server`: the front alone, against a running Triton
    run(Settings())

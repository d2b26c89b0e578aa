"""Run the front: the HTTP app and the gRPC server in one asyncio loop, sharing one service layer."""

from __future__ import annotations

import asyncio
import signal

import uvicorn

from finfer.front.fraud_service import FraudService
from finfer.front.grpc_server import create_server
from finfer.front.http_app import create_app
from finfer.front.image_service import DamageService, DocumentService
from finfer.front.intent_service import IntentService
from finfer.front.service import RiskService
from finfer.front.upstream import TritonUpstream
from finfer.settings import Settings


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Serve until `stop` is set or SIGINT/SIGTERM arrives; in-flight requests finish first."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    upstream = TritonUpstream(settings)
    await upstream.start()
    service = RiskService.from_repository(settings, upstream)
    fraud = FraudService.from_repository(settings.model_repository, upstream)
    intent = IntentService.from_repository(settings, upstream)
    documents = DocumentService.from_repository(settings, upstream)
    damage = DamageService.from_repository(settings, upstream)
    app = create_app(service, settings, fraud, intent, documents, damage)
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
    # uvicorn would install its own signal handlers and swallow ours.
    http.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    grpc_server = create_server(
        service,
        f"{settings.front_host}:{settings.grpc_port}",
        settings.max_image_bytes + 64 * 1024,
        fraud,
        intent,
        documents,
        damage,
    )
    await grpc_server.start()
    http_task = asyncio.create_task(http.serve())
    print(
        f"finfer front: HTTP http://{settings.front_host}:{settings.http_port} "
        f"(docs /docs), gRPC {settings.front_host}:{settings.grpc_port}",
        flush=True,
    )
    stop_task = asyncio.create_task(stop.wait())
    await asyncio.wait({http_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    http.should_exit = True
    await grpc_server.stop(grace=5)
    await http_task
    await service.close()
    if intent is not None:
        await intent.close()
    await upstream.close()


def run(settings: Settings) -> None:
    import uvloop

    uvloop.run(serve(settings))

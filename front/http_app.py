"""HTTP adapter: FastAPI routes that read the body, await the service layer and write JSON."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from finfer import __version__
from finfer.access.guard import Guard
from finfer.errors import (
    FrontError,
    InvalidArgument,
    InvalidJson,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    openapi_errors,
)
from finfer.front import metrics
from finfer.front.dataplane import DataPlane
from finfer.front.served import Served
from finfer.pipelines.declaration import Codec, Pipeline, response_models
from finfer.pipelines.validation import BASE64, Upload, decoded_base64, object_with
from finfer.settings import Settings

ERRORS = openapi_errors(400, 401, 403, 413, 415, 429, 503)


def json_response(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def error_response(error: FrontError, settings: Settings, headers: dict[str, str] | None = None) -> Response:
    if error.http_status == 503 or error.retry_after_s:
        headers = {**(headers or {}), "Retry-After": str(error.retry_after_s or settings.retry_after_s)}
    if error.http_status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": 'Bearer realm="finfer"'}
    return json_response(error.body(), error.http_status, headers)


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_body(request: Request, limit: int) -> bytes:
    if media_type(request) != "application/json":
        content_type = request.headers.get("content-type", "")
        raise UnsupportedMediaType(f"content type must be application/json, got {content_type or 'none'!r}")
    return await read_limited(request, limit)


# A body over the limit is still read (and dropped) up to this many times the limit before the 413: a server
# that answers and closes while the client is still sending makes the client's socket reset, and the
# client sees a broken connection instead of the 413. Larger bodies are refused without reading them.
DRAIN_FACTOR = 4


async def read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    declared_bytes = int(declared) if declared is not None and declared.isdigit() else None
    if declared_bytes is not None and declared_bytes > DRAIN_FACTOR * limit:
        raise PayloadTooLarge(f"body is {declared} bytes; the limit is {limit}")
    body = b""
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen <= limit:
            body += chunk
        elif seen > DRAIN_FACTOR * limit:
            break  # past the drain bound: refuse without reading the rest
    if declared_bytes is not None and declared_bytes > limit:
        raise PayloadTooLarge(f"body is {declared} bytes; the limit is {limit}")
    if seen > limit:
        raise PayloadTooLarge(f"body is over the limit of {limit} bytes")
    return body


def parse_json(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        strict_error = exc
    # NaN, Infinity and out-of-range numbers are not JSON, but clients send them: parse leniently
    # so that validation can name the field instead of rejecting the whole body.
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidJson(f"body is not valid JSON: {strict_error}") from None


async def timed(route: str, settings: Settings, handler: Callable[[], Awaitable[bytes]]) -> Response:
    started = time.perf_counter()
    try:
        response = Response(await handler(), media_type="application/json")
    except FrontError as error:
        response = error_response(error, settings)
    metrics.REQUESTS.labels(route, "http", str(response.status_code)).inc()
    metrics.REQUEST_LATENCY.labels(route, "http").observe(time.perf_counter() - started)
    return response


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI for a route that reads its JSON body itself (for speed) instead of through a pydantic model."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": inline_refs(schema)}}}}


def inline_refs(schema: Any, defs: dict[str, Any] | None = None) -> Any:
    """`schema` with pydantic's `#/$defs/...` references replaced by what they name: in an OpenAPI
    document they would point at its root, where nothing is."""
    if isinstance(schema, dict):
        defs = {**(defs or {}), **schema.get("$defs", {})}
        ref = schema.get("$ref", "")
        if ref.startswith("#/$defs/"):
            return inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: inline_refs(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [inline_refs(item, defs) for item in schema]
    return schema


def batch_body(field: str, item_schema: dict[str, Any], max_rows: int) -> dict[str, Any]:
    items = {"type": "array", "minItems": 1, "maxItems": max_rows, "items": item_schema}
    return json_body(
        {"type": "object", "required": [field], "additionalProperties": False, "properties": {field: items}}
    )


MULTIPART_OVERHEAD = 64 * 1024


def image_from_json(payload: object, limit: int, options: Collection[str] = ()) -> tuple[bytes, dict[str, object]]:
    """The bytes of `{"image_base64": str}` and the optional fields beside it, or a 400 naming the field."""
    body = object_with(payload, {"image_base64", *options}, "the string `image_base64`")
    data = decoded_base64(body.get("image_base64"), "image_base64")
    if len(data) > limit:
        raise PayloadTooLarge(f"image_base64: the image is {len(data)} bytes; the limit is {limit}", "image_base64")
    return data, {name: body[name] for name in options if body.get(name) is not None}


def _text_options(values: dict[str, object]) -> tuple[tuple[str, str], ...]:
    for name, value in values.items():
        if not isinstance(value, str):
            raise InvalidArgument(f"{name}: must be a string", name)
    return tuple(sorted((name, str(value)) for name, value in values.items()))


async def read_image(request: Request, settings: Settings, options: Collection[str] = ()) -> Upload:
    """The uploaded image, the field it came in (multipart `file`, or JSON `image_base64`), and the route's
    optional text fields beside it."""
    limit = settings.max_image_bytes
    kind = media_type(request)
    if kind == "multipart/form-data":
        # Read under the limit first; then let Starlette parse the body already in memory.
        request._body = await read_limited(request, limit + MULTIPART_OVERHEAD)
        try:
            form = await request.form(max_files=1, max_fields=4)
        except (StarletteHTTPException, ValueError) as exc:
            raise InvalidArgument(f"file: the multipart body is malformed: {exc}", "file") from None
        unknown = sorted(set(form.keys()) - {"file", *options})
        if unknown:
            raise InvalidArgument(f"{unknown[0]}: is not a known field (send the image as `file`)", unknown[0])
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidArgument("file: is required (a multipart file field named `file`)", "file")
        data = await upload.read()
        if len(data) > limit:
            raise PayloadTooLarge(f"file: the image is {len(data)} bytes; the limit is {limit}", "file")
        return Upload(data, "file", _text_options({n: form[n] for n in options if n in form}))
    if kind == "application/json":
        body = await read_limited(request, limit * 4 // 3 + 1024)
        data, given = image_from_json(parse_json(body), limit, options)
        return Upload(data, "image_base64", _text_options(given))
    content_type = request.headers.get("content-type", "")
    raise UnsupportedMediaType(
        f"content type must be multipart/form-data (field `file`) or application/json (`image_base64`), "
        f"got {content_type or 'none'!r}"
    )


def image_body(options: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """An image route's request body in OpenAPI: the image, and the route's optional text fields."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "additionalProperties": False,
                        "properties": {"file": {"type": "string", "format": "binary"}, **options},
                    }
                },
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["image_base64"],
                        "additionalProperties": False,
                        "properties": {"image_base64": BASE64, **options},
                    }
                },
            },
        }
    }


def add_post(
    router: APIRouter, path: str, answer: Callable[[Request], Awaitable[bytes]], settings: Settings, **openapi: Any
) -> None:
    """A timed POST route whose answer is already JSON."""

    async def route(request: Request) -> Response:
        return await timed(path, settings, lambda: answer(request))

    router.add_api_route(path, route, methods=["POST"], responses=ERRORS, **openapi)


def pipeline_router(
    pipeline: Pipeline, codec: Codec | None, plane: DataPlane, settings: Settings, guard: Guard
) -> APIRouter:
    """The routes of one declared pipeline: its POST route, and its batch twin where it has one. `codec`: the
    built pipeline's, whose request schema OpenAPI shows; None while the pipeline is still being built (the
    data plane answers 503 `not_built` until then, and `publish` puts the built routes in place)."""
    scopes = (pipeline.access_scope,)
    router = APIRouter(tags=[pipeline.tag or pipeline.name])
    single_model, batch_model = response_models(pipeline)
    schema = codec.request_schema() if codec is not None else None
    body = image_body(pipeline.image_options) if pipeline.body == "image" else json_body(schema or {})
    summary, _, _ = pipeline.summary.partition("\n")

    async def answer(request: Request) -> bytes:
        guard.check(request.headers.get("authorization"), scopes)  # before the body is read
        request_id = request.headers.get("x-request-id")
        if pipeline.body == "image":
            upload = await read_image(request, settings, tuple(pipeline.image_options))
            return (await plane.answer(pipeline.name, lambda: upload, request_id)).json()
        data = await read_body(request, pipeline.body_limit(settings))
        raw = data if pipeline.cached else None
        return (await plane.answer(pipeline.name, lambda: parse_json(data), request_id, raw)).json()

    add_post(
        router,
        pipeline.http_path,
        answer,
        settings,
        response_model=single_model,
        openapi_extra=body,
        summary=summary,
        description=pipeline.summary,
        name=pipeline.name,
    )
    batch = pipeline.batch
    if batch is not None:

        async def answer_batch(request: Request) -> bytes:
            guard.check(request.headers.get("authorization"), scopes)
            payload = parse_json(await read_body(request, settings.max_body_bytes))
            return (await plane.answer_batch(pipeline.name, payload, request.headers.get("x-request-id"))).json()

        add_post(
            router,
            batch.http_path,
            answer_batch,
            settings,
            response_model=batch_model,
            openapi_extra=batch_body(
                batch.field, batch.item_schema(codec) if codec is not None else {}, settings.max_batch_rows
            ),
            summary=batch.summary,
            name=f"{pipeline.name}_batch",
        )
    return router


READINESS = {True: "ready", False: "not ready"}


def health_router(plane: DataPlane, settings: Settings) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> Response:
        """Live: the front's process answers."""
        return json_response({"status": "live"})

    @router.get("/readyz")
    async def readyz() -> Response:
        """Ready only when Triton and every pipeline of the front are ready; `ready` says which are, `state` each
        one's state (ready, not ready, building, failed), `builds` each build's step and ETA, or why it failed."""
        versions = {name: plane.baseline(name).model_version for name in plane.served}
        ready = await plane.pipelines_ready()
        builds = {name: plane.build_state(name) for name in plane.pending}
        state = {name: builds[name]["state"] if name in builds else READINESS[ok] for name, ok in ready.items()}
        if all(ready.values()):
            first = next(iter(versions.values()))
            body = {"status": "ready", "model_version": first, "pipelines": versions, "ready": ready, "state": state}
            return json_response(body)
        phases = {b["state"] for b in builds.values()}
        status = "building" if "building" in phases else "failed" if phases else "not ready"
        status = "draining" if plane.draining else status
        body = {"status": status, "ready": ready, "state": state} | ({"builds": builds} if builds else {})
        return json_response(body, 503, {"Retry-After": str(settings.retry_after_s)})

    @router.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus"}},
    )
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return router


def publish(app: FastAPI, served: Served, plane: DataPlane, settings: Settings, guard: Guard) -> None:
    """A pipeline built while the front ran: its routes again, with its request schema in OpenAPI (the
    handlers are the same; the data plane now serves it)."""
    router = pipeline_router(served.pipeline, served.codec, plane, settings, guard)
    paths = {route.path for route in router.routes}
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) not in paths]
    app.include_router(router)
    app.openapi_schema = None  # rebuilt on the next /openapi.json


def create_app(plane: DataPlane, settings: Settings, guard: Guard, routers: Sequence[APIRouter] = ()) -> FastAPI:
    """The front's HTTP app: every pipeline's routes and health, then `routers` (the back office's)."""
    app = FastAPI(
        title="finfer",
        version=__version__,
        description=(
            "Credit-risk, fraud-ring, customer-intent, document-OCR and vehicle-damage models served by NVIDIA Triton"
        ),
    )
    for pipeline in plane.pipelines():
        served = plane.served.get(pipeline.name)
        app.include_router(pipeline_router(pipeline, served and served.codec, plane, settings, guard))
    app.include_router(health_router(plane, settings))
    for router in routers:
        app.include_router(router)

    @app.exception_handler(FrontError)
    async def front_error(request: Request, exc: FrontError) -> Response:
        return error_response(exc, settings)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return error_response(NotFound(f"no route {request.url.path}"), settings)
        error = FrontError(str(exc.detail))
        error.http_status, error.code = exc.status_code, "http_error"
        return error_response(error, settings, exc.headers)  # a 405 carries `Allow`

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        return error_response(InvalidJson(f"{field}: {first['msg']}", field), settings)

    return app

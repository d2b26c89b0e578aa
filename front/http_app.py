"""HTTP adapter: FastAPI routes that read the body, await the service layer and write JSON."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from finfer import __version__
from finfer.front import metrics
from finfer.front.errors import (
    FrontError,
    InvalidArgument,
    InvalidJson,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from finfer.front.fraud_schemas import FraudScoreResponse
from finfer.front.fraud_service import FraudService
from finfer.front.image_service import DamageResponse, DamageService, DocumentResponse, DocumentService, image_from_json
from finfer.front.intent_service import IntentBatchResponse, IntentResponse, IntentService
from finfer.front.schemas import ErrorResponse, ScoreBatchResponse, ScoreResponse
from finfer.front.service import RiskService, new_request_id
from finfer.front.upstream import DAMAGE_MODEL, DOCUMENT_MODEL, FRAUD_MODEL, INTENT_MODEL, RISK_MODEL
from finfer.settings import Settings

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in [
        (400, "Invalid input; `field` names the offending field"),
        (413, "Body over the size limit"),
        (415, "Content type is not one the route reads"),
        (503, "Triton is not ready; retry after `Retry-After` seconds"),
    ]
}


def json_response(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def error_response(error: FrontError, settings: Settings) -> Response:
    headers = {"Retry-After": str(settings.retry_after_s)} if error.http_status == 503 else None
    return json_response(error.body(), error.http_status, headers)


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_body(request: Request, limit: int) -> bytes:
    if media_type(request) != "application/json":
        content_type = request.headers.get("content-type", "")
        raise UnsupportedMediaType(f"content type must be application/json, got {content_type or 'none'!r}")
    return await read_limited(request, limit)


async def read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body is {declared} bytes; the limit is {limit}")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
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


# Async on purpose: FastAPI runs sync dependencies in a thread pool, a thread hop per request.
async def _service(request: Request) -> RiskService:
    return request.app.state.service


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _fraud(request: Request) -> FraudService:
    return request.app.state.fraud


async def _intent(request: Request) -> IntentService:
    return request.app.state.intent


ServiceDep = Annotated[RiskService, Depends(_service)]
FraudDep = Annotated[FraudService, Depends(_fraud)]
IntentDep = Annotated[IntentService, Depends(_intent)]
SettingsDep = Annotated[Settings, Depends(_settings)]


async def timed(route: str, settings: Settings, handler: Callable[[], Awaitable[dict[str, Any]]]) -> Response:
    started = time.perf_counter()
    try:
        response = json_response(await handler())
    except FrontError as error:
        response = error_response(error, settings)
    metrics.REQUESTS.labels(route, "http", str(response.status_code)).inc()
    metrics.REQUEST_LATENCY.labels(route, "http").observe(time.perf_counter() - started)
    return response


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI for a route that reads its JSON body itself (for speed) instead of through a pydantic model."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def batch_body(field: str, item_schema: dict[str, Any], max_rows: int) -> dict[str, Any]:
    items = {"type": "array", "minItems": 1, "maxItems": max_rows, "items": item_schema}
    return json_body(
        {"type": "object", "required": [field], "additionalProperties": False, "properties": {field: items}}
    )


MULTIPART_OVERHEAD = 64 * 1024


async def read_image(request: Request, settings: Settings) -> tuple[bytes, str]:
    """The uploaded image and the field it came in: multipart `file`, or JSON `image_base64`."""
    limit = settings.max_image_bytes
    kind = media_type(request)
    if kind == "multipart/form-data":
        # Read under the limit first; then let Starlette parse the body already in memory.
        request._body = await read_limited(request, limit + MULTIPART_OVERHEAD)
        try:
            form = await request.form(max_files=1, max_fields=4)
        except (StarletteHTTPException, ValueError) as exc:
            raise InvalidArgument(f"file: the multipart body is malformed: {exc}", "file") from None
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidArgument("file: is required (a multipart file field named `file`)", "file")
        data = await upload.read()
        if len(data) > limit:
            raise PayloadTooLarge(f"file: the image is {len(data)} bytes; the limit is {limit}", "file")
        return data, "file"
    if kind == "application/json":
        body = await read_limited(request, limit * 4 // 3 + 1024)
        return image_from_json(parse_json(body), limit), "image_base64"
    content_type = request.headers.get("content-type", "")
    raise UnsupportedMediaType(
        f"content type must be multipart/form-data (field `file`) or application/json (`image_base64`), "
        f"got {content_type or 'none'!r}"
    )


IMAGE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            },
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["image_base64"],
                    "additionalProperties": False,
                    "properties": {"image_base64": {"type": "string", "contentEncoding": "base64"}},
                }
            },
        },
    }
}


def image_router(documents: DocumentService | None, damage: DamageService | None) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["images"])

    if documents is not None:

        @router.post("/documents/ocr", response_model=DocumentResponse, responses=ERRORS, openapi_extra=IMAGE_BODY)
        async def read_document(request: Request, settings: SettingsDep) -> Response:
            """Text lines (text, confidence, box) of a JPEG/PNG document and the fields read from them:
            VIN (check digit verified), plate, resident ID number (checksum verified), amount, date."""

            async def handle() -> dict[str, Any]:
                image, field = await read_image(request, settings)
                return await documents.read(image, field, request.headers.get("x-request-id"))

            return await timed("/v1/documents/ocr", settings, handle)

    if damage is not None:

        @router.post("/vehicles/damage", response_model=DamageResponse, responses=ERRORS, openapi_extra=IMAGE_BODY)
        async def assess_damage(request: Request, settings: SettingsDep) -> Response:
            """Damage type (none, scratch, dent, crack) and severity of a JPEG/PNG photo of a car panel."""

            async def handle() -> dict[str, Any]:
                image, field = await read_image(request, settings)
                return await damage.assess(image, field, request.headers.get("x-request-id"))

            return await timed("/v1/vehicles/damage", settings, handle)

    return router


def risk_router(applicant_schema: dict[str, Any], max_rows: int) -> APIRouter:
    router = APIRouter(prefix="/v1/risk", tags=["risk"])
    single = json_body(applicant_schema)
    batch = batch_body("applicants", applicant_schema, max_rows)

    @router.post("/score", response_model=ScoreResponse, responses=ERRORS, openapi_extra=single)
    async def score(request: Request, service: ServiceDep, settings: SettingsDep) -> Response:
        """Score one applicant: probability of default, grade and adverse-action reasons."""

        async def handle() -> dict[str, Any]:
            body = await read_body(request, settings.max_body_bytes)
            request_id = request.headers.get("x-request-id")
            return service.cached(body, request_id) or await service.score(parse_json(body), request_id, raw=body)

        return await timed("/v1/risk/score", settings, handle)

    @router.post("/score:batch", response_model=ScoreBatchResponse, responses=ERRORS, openapi_extra=batch)
    async def score_batch(request: Request, service: ServiceDep, settings: SettingsDep) -> Response:
        """Score up to `max_batch_rows` applicants; results come back in order."""

        async def handle() -> dict[str, Any]:
            body = await read_body(request, settings.max_body_bytes)
            return await service.score_batch(parse_json(body), request.headers.get("x-request-id"))

        return await timed("/v1/risk/score:batch", settings, handle)

    return router


def fraud_router(request_schema: dict[str, Any]) -> APIRouter:
    router = APIRouter(prefix="/v1/fraud", tags=["fraud"])
    body = json_body(request_schema)

    @router.post("/score", response_model=FraudScoreResponse, responses=ERRORS, openapi_extra=body)
    async def score(request: Request, fraud: FraudDep, settings: SettingsDep) -> Response:
        """Fraud-ring probability of one application from its device/phone/IP neighbourhood, with evidence.

        `persist: true` adds the application and its links to the graph, so later applications see it.
        """

        async def handle() -> dict[str, Any]:
            payload = parse_json(await read_body(request, settings.max_body_bytes))
            return await fraud.score(payload, request.headers.get("x-request-id"))

        return await timed("/v1/fraud/score", settings, handle)

    return router


def intent_router(request_schema: dict[str, Any], max_rows: int) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["intent"])
    single = json_body(request_schema)
    batch = batch_body("texts", {"type": "string"}, max_rows)

    @router.post("/intent", response_model=IntentResponse, responses=ERRORS, openapi_extra=single)
    async def classify(request: Request, intent: IntentDep, settings: SettingsDep) -> Response:
        """Intent, amount and term of one Chinese customer message; `needs_human` when the model is unsure."""

        async def handle() -> dict[str, Any]:
            body = await read_body(request, settings.max_body_bytes)
            request_id = request.headers.get("x-request-id")
            return intent.answers.raw_hit(body, request_id or new_request_id()) or await intent.classify(
                parse_json(body), request_id, raw=body
            )

        return await timed("/v1/intent", settings, handle)

    @router.post("/intent:batch", response_model=IntentBatchResponse, responses=ERRORS, openapi_extra=batch)
    async def classify_batch(request: Request, intent: IntentDep, settings: SettingsDep) -> Response:
        """Up to `max_batch_rows` messages; results come back in order."""

        async def handle() -> dict[str, Any]:
            body = await read_body(request, settings.max_body_bytes)
            return await intent.classify_batch(parse_json(body), request.headers.get("x-request-id"))

        return await timed("/v1/intent:batch", settings, handle)

    return router


def health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> Response:
        """Live: the front's process answers."""
        return json_response({"status": "live"})

    @router.get("/readyz")
    async def readyz(request: Request, service: ServiceDep, settings: SettingsDep) -> Response:
        """Ready only when Triton and every pipeline the front serves are ready."""
        if await service.upstream.ready(request.app.state.pipelines):
            return json_response({"status": "ready", "model_version": service.model_version})
        return json_response({"status": "not ready"}, 503, {"Retry-After": str(settings.retry_after_s)})

    @router.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return router


def create_app(
    service: RiskService,
    settings: Settings,
    fraud: FraudService | None = None,
    intent: IntentService | None = None,
    documents: DocumentService | None = None,
    damage: DamageService | None = None,
) -> FastAPI:
    app = FastAPI(
        title="finfer",
        version=__version__,
        description=(
            "Credit-risk, fraud-ring, customer-intent, document-OCR and vehicle-damage models served by NVIDIA Triton"
        ),
    )
    app.state.service = service
    app.state.fraud = fraud
    app.state.intent = intent
    app.state.settings = settings
    optional = ((FRAUD_MODEL, fraud), (INTENT_MODEL, intent), (DOCUMENT_MODEL, documents), (DAMAGE_MODEL, damage))
    app.state.pipelines = (RISK_MODEL, *(name for name, service in optional if service is not None))
    app.include_router(risk_router(service.validator.json_schema(), settings.max_batch_rows))
    if fraud is not None:
        app.include_router(fraud_router(fraud.validator.json_schema()))
    if intent is not None:
        app.include_router(intent_router(intent.json_schema(), settings.max_batch_rows))
    if documents is not None or damage is not None:
        app.include_router(image_router(documents, damage))
    app.include_router(health_router())

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return error_response(NotFound(f"no route {request.url.path}"), settings)
        error = FrontError(str(exc.detail))
        error.http_status, error.code = exc.status_code, "http_error"
        return error_response(error, settings)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        return error_response(InvalidJson(f"{field}: {first['msg']}", field), settings)

    return app

"""finfer's serving errors, each mapped to an HTTP status and a gRPC code in this one place.

Raised by the declarations' validation and by the front; the adapters turn them into answers.
"""

from __future__ import annotations

from typing import Any

import grpc
from pydantic import BaseModel, ConfigDict


class FrontError(Exception):
    http_status = 500
    grpc_code = grpc.StatusCode.INTERNAL
    code = "internal"

    def __init__(self, message: str, field: str | None = None, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.retry_after_s = retry_after_s  # sent as Retry-After (HTTP) or `retry-after` metadata (gRPC)

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


class InvalidArgument(FrontError):
    http_status = 400
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    code = "invalid_argument"


class InvalidJson(InvalidArgument):
    code = "invalid_json"


class PayloadTooLarge(InvalidArgument):
    http_status = 413
    code = "payload_too_large"


class UnsupportedMediaType(InvalidArgument):
    http_status = 415
    code = "unsupported_media_type"


class NotFound(FrontError):
    http_status = 404
    grpc_code = grpc.StatusCode.NOT_FOUND
    code = "not_found"


class Unauthenticated(FrontError):
    """No key, or one that is unknown or revoked."""

    http_status = 401
    grpc_code = grpc.StatusCode.UNAUTHENTICATED
    code = "unauthenticated"


class PermissionDenied(FrontError):
    """A valid key without the scope the route needs."""

    http_status = 403
    grpc_code = grpc.StatusCode.PERMISSION_DENIED
    code = "permission_denied"


class Conflict(FrontError):
    """The request is valid but the resource's state forbids it (a case claimed by another reviewer)."""

    http_status = 409
    grpc_code = grpc.StatusCode.FAILED_PRECONDITION
    code = "conflict"


class RateLimited(FrontError):
    http_status = 429
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    code = "rate_limited"


class Unavailable(FrontError):
    """Triton is down, not ready or too slow: retry later."""

    http_status = 503
    grpc_code = grpc.StatusCode.UNAVAILABLE
    code = "unavailable"


class Overloaded(Unavailable):
    """A heavy request past its pipeline's admission bound and queue (front/admission.py): retry shortly. Its own
    code, so that a client or a drill tells shedding under load from a part that is down."""

    code = "overloaded"


class NotBuilt(Unavailable):
    """A registered pipeline that `finfer serve` is still building, or whose build failed."""

    code = "not_built"


class UpstreamError(FrontError):
    """Triton answered with an error the front did not expect: a bug or a model mismatch."""

    http_status = 502
    grpc_code = grpc.StatusCode.INTERNAL
    code = "upstream_error"


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None


class ErrorResponse(BaseModel):
    model_config = ConfigDict(title="Error")
    error: ErrorDetail


# What each error status means, for the OpenAPI document of every route.
STATUS_TEXT = {
    400: "Invalid input; `field` names the offending field",
    401: "No API key, or an unknown or revoked one",
    403: "The key lacks the route's scope",
    404: "No such application record or case",
    409: "The case's state forbids it: claimed by another reviewer, not claimed, or already resolved",
    413: "Body over the size limit",
    415: "Content type is not one the route reads",
    429: "The key is over its rate; retry after `Retry-After` seconds",
    503: "Triton or the database is not ready, the pipeline is still being built (`not_built`), or a heavy "
    "pipeline is at its admission bound; retry after `Retry-After` seconds",
}


def openapi_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses` of a FastAPI route that can answer these error statuses."""
    return {status: {"model": ErrorResponse, "description": STATUS_TEXT[status]} for status in statuses}

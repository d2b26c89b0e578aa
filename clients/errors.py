"""The SDK's exceptions: callers catch these, never httpx's or grpc's."""

from __future__ import annotations


class FinferClientError(Exception):
    def __init__(self, message: str, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field


class InvalidRequest(FinferClientError):
    """The server rejected the input (HTTP 4xx, gRPC INVALID_ARGUMENT); `field` names the culprit."""


class Unavailable(FinferClientError):
    """The server or its models are not ready (HTTP 503, gRPC UNAVAILABLE); retried before raising."""


class AccessDenied(FinferClientError):
    """No API key, an unknown or revoked one (HTTP 401, gRPC UNAUTHENTICATED), or one without the route's scope
    (HTTP 403, gRPC PERMISSION_DENIED)."""


class RateLimited(Unavailable):
    """The key is over its rate (HTTP 429, gRPC RESOURCE_EXHAUSTED); retried like Unavailable before raising."""


class Timeout(FinferClientError):
    """No answer within the client's timeout."""


class ServerError(FinferClientError):
    """Any other failure on the server's side."""

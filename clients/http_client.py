"""HTTP clients (httpx): sync and asyncio, with timeouts and retries on 503 only."""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from finfer.clients.api import Api, AsyncApi, Body
from finfer.clients.errors import (
    AccessDenied,
    FinferClientError,
    InvalidRequest,
    RateLimited,
    ServerError,
    Timeout,
    Unavailable,
)
from finfer.clients.retry import RetryPolicy
from finfer.pipelines.declaration import Pipeline

M = TypeVar("M", bound=BaseModel)


def _auth(api_key: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {api_key}"} if api_key else {}


def _error(response: httpx.Response) -> FinferClientError:
    try:
        detail = response.json()["error"]
        message, code, field = detail["message"], detail["code"], detail.get("field")
    except (ValueError, KeyError, TypeError):
        message, code, field = response.text or response.reason_phrase, None, None
    if response.status_code == 503:
        return Unavailable(message, code, field)
    if response.status_code == 429:
        return RateLimited(message, code, field)
    if response.status_code in (401, 403):
        return AccessDenied(message, code, field)
    if 400 <= response.status_code < 500:
        return InvalidRequest(message, code, field)
    return ServerError(message, code, field)


def _decode(response: httpx.Response) -> dict[str, Any]:
    if response.status_code != 200:
        raise _error(response)
    return response.json()


def _batch(pipeline: Pipeline, items: list[Any]) -> tuple[str, Body]:
    if pipeline.batch is None:
        raise ValueError(f"{pipeline.name} has no batch route")
    return pipeline.batch.http_path, {pipeline.batch.field: items}


class HttpClient(Api):
    def __init__(
        self, url: str, timeout_s: float = 10.0, retry: RetryPolicy = RetryPolicy(), api_key: str | None = None
    ) -> None:
        self._client = httpx.Client(base_url=url, timeout=timeout_s, headers=_auth(api_key))
        self.retry = retry

    def _post(self, path: str, body: Body) -> dict[str, Any]:
        return self.retry.run(lambda: self._post_once(path, body))

    def _post_once(self, path: str, body: Body) -> dict[str, Any]:
        try:
            return _decode(self._client.post(path, json=body))
        except httpx.TimeoutException as exc:
            raise Timeout(f"no answer from {path} in time") from exc
        except httpx.ConnectError as exc:
            raise Unavailable(str(exc)) from exc

    def _one(self, pipeline: Pipeline, body: Body, model: type[M]) -> M:
        return model.model_validate(self._post(pipeline.http_path, body))

    def _many(self, pipeline: Pipeline, items: list[Any], model: type[M]) -> list[M]:
        answer = self._post(*_batch(pipeline, items))
        return [model.model_validate(r) for r in answer["results"]]

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncHttpClient(AsyncApi):
    def __init__(
        self, url: str, timeout_s: float = 10.0, retry: RetryPolicy = RetryPolicy(), api_key: str | None = None
    ) -> None:
        self._client = httpx.AsyncClient(base_url=url, timeout=timeout_s, headers=_auth(api_key))
        self.retry = retry

    async def _post(self, path: str, body: Body) -> dict[str, Any]:
        return await self.retry.run_async(lambda: self._post_once(path, body))

    async def _post_once(self, path: str, body: Body) -> dict[str, Any]:
        try:
            return _decode(await self._client.post(path, json=body))
        except httpx.TimeoutException as exc:
            raise Timeout(f"no answer from {path} in time") from exc
        except httpx.ConnectError as exc:
            raise Unavailable(str(exc)) from exc

    async def _one(self, pipeline: Pipeline, body: Body, model: type[M]) -> M:
        return model.model_validate(await self._post(pipeline.http_path, body))

    async def _many(self, pipeline: Pipeline, items: list[Any], model: type[M]) -> list[M]:
        answer = await self._post(*_batch(pipeline, items))
        return [model.model_validate(r) for r in answer["results"]]

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> AsyncHttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

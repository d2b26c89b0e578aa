"""The service layer (KServe's "data plane"): validation, cache, routing to Triton. HTTP and gRPC call it."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from finfer.front import metrics
from finfer.front.cache import TTLCache, cache_key, raw_key
from finfer.front.errors import InvalidArgument
from finfer.front.schemas import ApplicantRow, ApplicantValidator
from finfer.front.shared_cache import SharedCache
from finfer.front.upstream import RiskResult, TritonUpstream
from finfer.models.risk import FeatureSchema
from finfer.settings import Settings

RISK_SCHEMA = Path("risk_features") / "1" / "schema.json"


def new_request_id() -> str:
    return uuid.uuid4().hex


class RiskService:
    def __init__(
        self,
        settings: Settings,
        upstream: TritonUpstream,
        schema: FeatureSchema,
        shared: SharedCache | None = None,
    ) -> None:
        self.settings = settings
        self.upstream = upstream
        self.schema = schema
        self.model_version = schema.model_version
        self.validator = ApplicantValidator(schema)
        self.cache = TTLCache(settings.cache_entries, settings.cache_ttl_s)
        self.shared = shared
        self._salt = settings.cache_salt.encode()

    @classmethod
    def from_repository(cls, settings: Settings, upstream: TritonUpstream) -> RiskService:
        path = settings.model_repository / RISK_SCHEMA
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run `finfer build` first")
        shared = None
        if settings.redis_url:
            shared = SharedCache(
                settings.redis_url, settings.cache_ttl_s, settings.redis_timeout_s, settings.redis_pause_s
            )
        return cls(settings, upstream, FeatureSchema.load(path), shared)

    async def close(self) -> None:
        if self.shared is not None:
            await self.shared.close()

    def cached(self, raw: bytes, request_id: str | None = None) -> dict[str, Any] | None:
        """The answer to a byte-identical request seen before, without parsing or validating it again.

        A body that was valid once is valid again, so repeats skip the most expensive part of a hit.
        """
        hit = self.cache.get(self._raw_key(raw))
        if hit is None:
            return None
        metrics.CACHE.labels("risk", "hit").inc()
        return {**hit, "request_id": request_id or new_request_id(), "cached": True}

    async def score(self, applicant: object, request_id: str | None = None, raw: bytes | None = None) -> dict[str, Any]:
        row = self.validator.row(applicant, "")
        request_id = request_id or new_request_id()
        (answer,) = await self._score_rows([row], request_id)
        if raw is not None:
            self.cache.put(self._raw_key(raw), {k: v for k, v in answer.items() if k not in ("request_id", "cached")})
        return answer

    def _raw_key(self, raw: bytes) -> bytes:
        return raw_key(self._salt, self.model_version, raw)

    async def score_batch(self, payload: object, request_id: str | None = None) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise InvalidArgument("body: must be a JSON object with the list `applicants`", None)
        unknown = sorted(set(payload) - {"applicants"})
        if unknown:
            raise InvalidArgument(f"{unknown[0]}: is not a known field", unknown[0])
        applicants = payload.get("applicants")
        if not isinstance(applicants, list):
            raise InvalidArgument("applicants: must be a list of applicant objects", "applicants")
        if not applicants:
            raise InvalidArgument("applicants: must hold at least one applicant", "applicants")
        limit = self.settings.max_batch_rows
        if len(applicants) > limit:
            raise InvalidArgument(
                f"applicants: at most {limit} applicants a batch, got {len(applicants)}", "applicants"
            )
        rows = [self.validator.row(a, f"applicants[{i}]") for i, a in enumerate(applicants)]
        request_id = request_id or new_request_id()
        results = await self._score_rows(rows, request_id)
        return {"results": results, "model_version": self.model_version, "request_id": request_id}

    async def _score_rows(self, rows: list[ApplicantRow], request_id: str) -> list[dict[str, Any]]:
        answers: list[dict[str, Any] | None] = [None] * len(rows)
        keys = [cache_key(self._salt, self.model_version, (*r.categorical, *r.numeric)) for r in rows]
        missing = []
        for i, key in enumerate(keys):
            hit = self.cache.get(key)
            if hit is not None:
                answers[i] = {**hit, "request_id": request_id, "cached": True}
            else:
                missing.append(i)
        hits = len(rows) - len(missing)
        if hits:
            metrics.CACHE.labels("risk", "hit").inc(hits)
        if missing and self.shared is not None:
            missing = await self._shared_lookup(self.shared, keys, missing, answers, request_id)
        if missing:
            metrics.CACHE.labels("risk", "miss").inc(len(missing))
            results = await self.upstream.score([rows[i] for i in missing])
            fresh = []
            for i, result in zip(missing, results, strict=True):
                body = self._body(result)
                self.cache.put(keys[i], body)
                fresh.append((keys[i], body))
                answers[i] = {**body, "request_id": request_id, "cached": False}
            metrics.CACHE_ENTRIES.set(len(self.cache))
            if self.shared is not None:
                await self.shared.put_many(fresh)
        return answers  # type: ignore[return-value]

    async def _shared_lookup(
        self,
        shared: SharedCache,
        keys: list[bytes],
        missing: list[int],
        answers: list[dict[str, Any] | None],
        request_id: str,
    ) -> list[int]:
        """Fill `answers` from Redis where another replica scored the row; return the rows still missing."""
        found = await shared.get_many([keys[i] for i in missing])
        still_missing = []
        for i, body in zip(missing, found, strict=True):
            if body is None:
                still_missing.append(i)
            else:
                self.cache.put(keys[i], body)
                answers[i] = {**body, "request_id": request_id, "cached": True}
        shared_hits = len(missing) - len(still_missing)
        if shared_hits:
            metrics.CACHE.labels("risk", "shared_hit").inc(shared_hits)
        return still_missing

    def _body(self, result: RiskResult) -> dict[str, Any]:
        return {
            "probability_of_default": result.probability_of_default,
            "grade": result.grade,
            "reasons": [{"feature": f, "value": v, "contribution": c, "text": t} for f, v, c, t in result.reasons],
            "model_version": self.model_version,
        }

"""The service layer (KServe's "data plane"): validation, cache, routing to Triton. HTTP and gRPC call it."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from finfer.front.answer_cache import AnswerCache, shared_cache
from finfer.front.errors import InvalidArgument
from finfer.front.schemas import ApplicantRow, ApplicantValidator
from finfer.front.shared_cache import SharedCache
from finfer.front.upstream import RiskResult, TritonUpstream
from finfer.models.risk import FeatureSchema
from finfer.settings import Settings

RISK_SCHEMA = Path("risk_features") / "1" / "schema.json"


def new_request_id() -> str:
    return uuid.uuid4().hex


def batch_items(payload: object, field: str, what: str, limit: int) -> list:
    """The list `field` of a batch body {field: [...]}, checked for shape and size."""
    if not isinstance(payload, dict):
        raise InvalidArgument(f"body: must be a JSON object with the list `{field}`", None)
    unknown = sorted(set(payload) - {field})
    if unknown:
        raise InvalidArgument(f"{unknown[0]}: is not a known field", unknown[0])
    items = payload.get(field)
    if not isinstance(items, list):
        raise InvalidArgument(f"{field}: must be a list of {what}", field)
    if not items:
        raise InvalidArgument(f"{field}: must hold at least one item", field)
    if len(items) > limit:
        raise InvalidArgument(f"{field}: at most {limit} items a batch, got {len(items)}", field)
    return items


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
        self.answers = AnswerCache("risk", self.model_version, settings, shared)

    @classmethod
    def from_repository(cls, settings: Settings, upstream: TritonUpstream) -> RiskService:
        path = settings.model_repository / RISK_SCHEMA
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run `finfer build` first")
        return cls(settings, upstream, FeatureSchema.load(path), shared_cache(settings))

    async def close(self) -> None:
        await self.answers.close()

    def cached(self, raw: bytes, request_id: str | None = None) -> dict[str, Any] | None:
        return self.answers.raw_hit(raw, request_id or new_request_id())

    async def score(self, applicant: object, request_id: str | None = None, raw: bytes | None = None) -> dict[str, Any]:
        row = self.validator.row(applicant, "")
        request_id = request_id or new_request_id()
        (answer,) = await self._score_rows([row], request_id)
        if raw is not None:
            self.answers.remember_raw(raw, answer)
        return answer

    async def score_batch(self, payload: object, request_id: str | None = None) -> dict[str, Any]:
        applicants = batch_items(payload, "applicants", "applicant objects", self.settings.max_batch_rows)
        rows = [self.validator.row(a, f"applicants[{i}]") for i, a in enumerate(applicants)]
        request_id = request_id or new_request_id()
        results = await self._score_rows(rows, request_id)
        return {"results": results, "model_version": self.model_version, "request_id": request_id}

    async def _score_rows(self, rows: list[ApplicantRow], request_id: str) -> list[dict[str, Any]]:
        keys = [self.answers.key((*r.categorical, *r.numeric)) for r in rows]

        async def compute(missing: list[int]) -> list[dict[str, Any]]:
            return [self._body(r) for r in await self.upstream.score([rows[i] for i in missing])]

        return await self.answers.answer(keys, compute, request_id)

    def _body(self, result: RiskResult) -> dict[str, Any]:
        return {
            "probability_of_default": result.probability_of_default,
            "grade": result.grade,
            "reasons": [{"feature": f, "value": v, "contribution": c, "text": t} for f, v, c, t in result.reasons],
            "model_version": self.model_version,
        }

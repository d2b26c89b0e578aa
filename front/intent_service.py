"""Customer intent in the service layer: validate the message, answer from the cache or `customer_intent`.

Answers are deterministic for a model version and a message, so they are cached like risk scores;
the cache key is a salted hash, so a message (which may hold a name or a phone number) is never
stored in clear.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from finfer.front.answer_cache import AnswerCache, shared_cache
from finfer.front.errors import InvalidArgument
from finfer.front.service import batch_items, new_request_id
from finfer.front.upstream import IntentResult, TritonUpstream
from finfer.settings import Settings

INTENT_META = Path("intent_decode") / "1" / "meta.json"


class Slots(BaseModel):
    amount: int | None
    term_months: int | None


class IntentResponse(BaseModel):
    intent: str
    confidence: float
    slots: Slots
    needs_human: bool
    model_version: str
    request_id: str
    cached: bool


class IntentBatchResponse(BaseModel):
    results: list[IntentResponse]
    model_version: str
    request_id: str


def valid_text(value: object, field: str, max_chars: int) -> str:
    """The message as the model sees it (surrounding whitespace removed), or a 400 naming `field`."""
    if not isinstance(value, str):
        raise InvalidArgument(f"{field}: must be a string", field)
    text = value.strip()
    if not text:
        raise InvalidArgument(f"{field}: must not be empty or whitespace only", field)
    if len(text) > max_chars:
        raise InvalidArgument(f"{field}: at most {max_chars} characters, got {len(text)}", field)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # JSON can escape a lone surrogate (\ud800) that is no character at all.
        raise InvalidArgument(f"{field}: is not valid UTF-8 text (lone surrogate)", field) from None
    return text


class IntentService:
    def __init__(self, settings: Settings, upstream: TritonUpstream, meta: dict[str, Any]) -> None:
        self.settings = settings
        self.upstream = upstream
        self.model_version: str = meta["model_version"]
        self.max_chars: int = meta["max_chars"]
        self.intents: list[str] = meta["intents"]
        self.answers = AnswerCache("intent", self.model_version, settings, shared_cache(settings))

    @classmethod
    def from_repository(cls, settings: Settings, upstream: TritonUpstream) -> IntentService | None:
        """None where the repository was built without the intent family."""
        path = settings.model_repository / INTENT_META
        return cls(settings, upstream, json.loads(path.read_text())) if path.exists() else None

    async def close(self) -> None:
        await self.answers.close()

    def json_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["text"],
            "additionalProperties": False,
            "properties": {"text": {"type": "string", "minLength": 1, "maxLength": self.max_chars}},
        }

    async def classify(self, payload: object, request_id: str | None = None, raw: bytes | None = None) -> dict:
        if not isinstance(payload, dict):
            raise InvalidArgument("body: must be a JSON object with the string `text`", None)
        unknown = sorted(set(payload) - {"text"})
        if unknown:
            raise InvalidArgument(f"{unknown[0]}: is not a known field", unknown[0])
        if "text" not in payload:
            raise InvalidArgument("text: is required", "text")
        text = valid_text(payload["text"], "text", self.max_chars)
        (answer,) = await self._classify([text], request_id or new_request_id())
        if raw is not None:
            self.answers.remember_raw(raw, answer)
        return answer

    async def classify_batch(self, payload: object, request_id: str | None = None) -> dict:
        items = batch_items(payload, "texts", "strings", self.settings.max_batch_rows)
        texts = [valid_text(t, f"texts[{i}]", self.max_chars) for i, t in enumerate(items)]
        request_id = request_id or new_request_id()
        results = await self._classify(texts, request_id)
        return {"results": results, "model_version": self.model_version, "request_id": request_id}

    async def _classify(self, texts: list[str], request_id: str) -> list[dict[str, Any]]:
        keys = [self.answers.key((text,)) for text in texts]

        async def compute(missing: list[int]) -> list[dict[str, Any]]:
            return [self._body(r) for r in await self.upstream.intent.submit([texts[i] for i in missing])]

        return await self.answers.answer(keys, compute, request_id)

    def _body(self, result: IntentResult) -> dict[str, Any]:
        return {
            "intent": result.intent,
            "confidence": result.confidence,
            "slots": {"amount": result.amount, "term_months": result.term_months},
            "needs_human": result.needs_human,
            "model_version": self.model_version,
        }

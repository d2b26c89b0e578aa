"""Documents and vehicle photos in the service layer: check the upload, call the pipeline, shape the answer.

The front refuses what it can see from the header alone (not an image, wrong format, zero-sized,
over the byte or pixel limit, cut off); the pipeline's decode step refuses the rest (a corrupt
body). Either way the client gets a 400 naming its field, and the server goes on serving.
Not cached: the same photo is rarely uploaded twice, and the key would cost a hash of megabytes.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from finfer.front.errors import InvalidArgument, PayloadTooLarge
from finfer.front.service import new_request_id
from finfer.front.upstream import TritonUpstream
from finfer.models.image_checks import ImageError, check_image
from finfer.settings import Settings

OCR_META = Path("ocr_read") / "1" / "meta.json"
DAMAGE_META = Path("damage_labels") / "1" / "meta.json"


class Field(BaseModel):
    value: str
    valid: bool
    confidence: float
    box: list[list[float]]


class Fields(BaseModel):
    vin: Field | None
    plate: Field | None
    id_number: Field | None
    amount: Field | None
    date: Field | None


class DocumentLine(BaseModel):
    text: str
    confidence: float
    box: list[list[float]]


class DocumentResponse(BaseModel):
    lines: list[DocumentLine]
    fields: Fields
    model_version: str
    request_id: str


class DamageResponse(BaseModel):
    damage_type: str
    severity: str
    probabilities: dict[str, float]
    severity_probabilities: dict[str, float]
    model_version: str
    request_id: str


def image_from_json(payload: object, limit: int) -> bytes:
    """The bytes of `{"image_base64": str}`, or a 400 naming the field."""
    if not isinstance(payload, dict):
        raise InvalidArgument("body: must be a JSON object with the string `image_base64`", None)
    unknown = sorted(set(payload) - {"image_base64"})
    if unknown:
        raise InvalidArgument(f"{unknown[0]}: is not a known field", unknown[0])
    value = payload.get("image_base64")
    if not isinstance(value, str):
        raise InvalidArgument("image_base64: is required and must be a base64 string", "image_base64")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument("image_base64: is not valid base64", "image_base64") from None
    if len(data) > limit:
        raise PayloadTooLarge(f"image_base64: the image is {len(data)} bytes; the limit is {limit}", "image_base64")
    return data


def checked(image: bytes, field: str) -> bytes:
    try:
        check_image(image)
    except ImageError as error:
        raise InvalidArgument(f"{field}: {error}", field) from None
    return image


async def _with_field(field: str, call):
    """The pipeline's own refusal (a corrupt body it could not decode), named after the client's field."""
    try:
        return await call
    except InvalidArgument as error:
        raise InvalidArgument(f"{field}: {error.message}", field) from None


class DocumentService:
    def __init__(self, upstream: TritonUpstream, meta: dict[str, Any]) -> None:
        self.upstream = upstream
        self.model_version: str = meta["model_version"]

    @classmethod
    def from_repository(cls, settings: Settings, upstream: TritonUpstream) -> DocumentService | None:
        """None where the repository was built without the OCR family."""
        path = settings.model_repository / OCR_META
        return cls(upstream, json.loads(path.read_text(encoding="utf-8"))) if path.exists() else None

    async def read(self, image: bytes, field: str, request_id: str | None = None) -> dict[str, Any]:
        result = await _with_field(field, self.upstream.document(checked(image, field)))
        return {
            "lines": [{"text": t, "confidence": c, "box": b} for t, c, b in result.lines],
            "fields": result.fields,
            "model_version": self.model_version,
            "request_id": request_id or new_request_id(),
        }


class DamageService:
    def __init__(self, upstream: TritonUpstream, meta: dict[str, Any]) -> None:
        self.upstream = upstream
        self.model_version: str = meta["model_version"]
        self.damage_types: list[str] = meta["damage_types"]
        self.severities: list[str] = meta["severities"]

    @classmethod
    def from_repository(cls, settings: Settings, upstream: TritonUpstream) -> DamageService | None:
        """None where the repository was built without the damage family."""
        path = settings.model_repository / DAMAGE_META
        return cls(upstream, json.loads(path.read_text())) if path.exists() else None

    async def assess(self, image: bytes, field: str, request_id: str | None = None) -> dict[str, Any]:
        result = await _with_field(field, self.upstream.damage(checked(image, field)))
        return {
            "damage_type": result.damage_type,
            "severity": result.severity,
            "probabilities": dict(zip(self.damage_types, result.type_probabilities, strict=True)),
            "severity_probabilities": dict(zip(self.severities, result.severity_probabilities, strict=True)),
            "model_version": self.model_version,
            "request_id": request_id or new_request_id(),
        }

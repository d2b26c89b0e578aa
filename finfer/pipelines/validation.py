"""Validation shared by the declarations: every refusal is an InvalidArgument naming the field."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from finfer.errors import InvalidArgument
from finfer.models.images.uploads import ImageError, check_image


def first_error(exc: ValidationError, where: str = "") -> InvalidArgument:
    """pydantic's first complaint, worded for a client: `field: what is wrong`."""
    error = exc.errors(include_url=False)[0]
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"]).lstrip(".")
    field = (where + path if path.startswith("[") else f"{where}.{path}") if where and path else (where or path or None)
    kind = error["type"]
    if kind == "missing":
        message = "is required"
    elif kind == "extra_forbidden":
        message = "is not a known field"
    elif kind == "value_error":
        message = str(error["ctx"]["error"])
    else:
        message = error["msg"][0].lower() + error["msg"][1:]
        if kind == "literal_error":
            message = f"{message}; got {error['input']!r}"
    return InvalidArgument(f"{field}: {message}", field)


def object_with(payload: object, fields: set[str], what: str) -> dict:
    """`payload` as a JSON object holding no other keys than `fields`."""
    if not isinstance(payload, dict):
        raise InvalidArgument(f"body: must be a JSON object with {what}", None)
    unknown = sorted(set(payload) - fields)
    if unknown:
        raise InvalidArgument(f"{unknown[0]}: is not a known field", unknown[0])
    return payload


def batch_items(payload: object, field: str, what: str, limit: int) -> list:
    """The list `field` of a batch body {field: [...]}, checked for shape and size."""
    body = object_with(payload, {field}, f"the list `{field}`")
    items = body.get(field)
    if not isinstance(items, list):
        raise InvalidArgument(f"{field}: must be a list of {what}", field)
    if not items:
        raise InvalidArgument(f"{field}: must hold at least one item", field)
    if len(items) > limit:
        raise InvalidArgument(f"{field}: at most {limit} items a batch, got {len(items)}", field)
    return items


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


# An image in JSON, as the OpenAPI schema states it: standard base64 (what the validator decodes), at
# least one 3-byte group. Whether the bytes are a JPEG or PNG no schema can say; the validator does.
BASE64 = {
    "type": "string",
    "contentEncoding": "base64",
    "minLength": 4,
    "pattern": "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
}


def decoded_base64(value: object, field: str) -> bytes:
    """An image sent as base64 in JSON, decoded, or a 400 naming `field`."""
    if not isinstance(value, str):
        raise InvalidArgument(f"{field}: is required and must be a base64 string", field)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument(f"{field}: is not valid base64", field) from None


@dataclass(frozen=True)
class Upload:
    """An image as a client sent it, the field it came in (`file`, `image_base64`, `image`), and the
    route's optional text fields it came with (a page's `kind`)."""

    data: bytes
    field: str
    options: tuple[tuple[str, str], ...] = ()

    def option(self, name: str) -> str | None:
        return dict(self.options).get(name)


def checked_image(upload: object) -> Upload:
    """What the header alone shows (not an image, wrong format, zero-sized, too many pixels, cut off)."""
    if not isinstance(upload, Upload):
        raise TypeError(f"an image pipeline takes an Upload, got {type(upload).__name__}")
    try:
        check_image(upload.data)
    except ImageError as error:
        raise InvalidArgument(f"{upload.field}: {error}", upload.field) from None
    return upload


def name_image_field(error: InvalidArgument, rows: Sequence[Upload]) -> InvalidArgument:
    """The pipeline's own refusal (a corrupt body it could not decode), named after the client's field."""
    field = rows[0].field if len(rows) == 1 else None
    return InvalidArgument(f"{field}: {error.message}", field) if field else error

"""schemathesis hooks for tests/test_contract.py (loaded through SCHEMATHESIS_HOOKS).

No JSON Schema can say that a string is the base64 of a JPEG or PNG, so a schema-valid image field is a
random byte string that the front rightly refuses. These hooks put a real image where the generated
data is a schema-valid one, so that the positive checks test the rest of the request; schema-violating
values are left as they were, so the negative checks keep their bite. Likewise a loan's statements: one a
period, none after this month.
"""

from __future__ import annotations

import base64
import io
import re

import schemathesis
from PIL import Image

from finfer.pipelines.validation import BASE64


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 200, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _png()
PNG_BASE64 = base64.b64encode(PNG).decode()
_VALID = re.compile(BASE64["pattern"])


def _with_images(value: object) -> object:
    if isinstance(value, dict):
        return {
            key: PNG_BASE64
            if key == "image_base64" and isinstance(item, str) and len(item) >= 4 and _VALID.fullmatch(item)
            else _with_images(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_with_images(item) for item in value]
    return value


def _past(period: str) -> str:
    """A period the front takes: no JSON Schema can say "not after this month" (a future statement is refused)."""
    from finfer.pipelines.behaviour import current_month

    year, month = divmod(current_month(), 12)
    return min(period, f"{year:04d}-{month + 1:02d}")


def _with_distinct_periods(value: object) -> object:
    """A loan's statements with one statement a period (no JSON Schema can say that items differ in one key)."""
    if isinstance(value, dict):
        out = {key: _with_distinct_periods(item) for key, item in value.items()}
        statements = out.get("statements")
        if isinstance(statements, list):
            seen: set[str] = set()
            kept = []
            for item in statements:
                period = item.get("period") if isinstance(item, dict) else None
                if isinstance(period, str) and _PERIOD.fullmatch(period):
                    item = {**item, "period": _past(period)}
                    if item["period"] in seen:
                        continue
                    seen.add(item["period"])
                kept.append(item)
            out["statements"] = kept
        elif isinstance(out.get("period"), str) and _PERIOD.fullmatch(out["period"]):
            out["period"] = _past(out["period"])
        return out
    if isinstance(value, list):
        return [_with_distinct_periods(item) for item in value]
    return value


_PERIOD = re.compile(r"[0-9]{4}-[0-9]{2}")


@schemathesis.hook
def before_call(ctx, case, kwargs):  # noqa: ANN001, ANN201
    """Every phase (examples, coverage, fuzzing) passes here just before the request is sent."""
    if case.meta is not None and case.meta.generation.mode.is_negative:
        return  # a request meant to be refused stays as generated
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("file"), bytes | bytearray):
        case.body = {**body, "file": PNG}
    else:
        case.body = _with_distinct_periods(_with_images(body))

"""A loan's id, as every route that names one checks it: the loans' own routes, and an application that opens one."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from finfer.errors import InvalidArgument

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
ID_PATTERN = f"^{_ID.pattern}$"
ID_RULE = "must be 1 to 64 letters, digits or _.:- starting with a letter or digit"


def _id(value: str) -> str:
    if not _ID.fullmatch(value):
        raise ValueError(ID_RULE)
    return value


def _id_no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)
    schema["pattern"] = ID_PATTERN


Id = Annotated[str, Field(json_schema_extra={"pattern": ID_PATTERN}), AfterValidator(_id)]
# An optional id whose schema shows no default (absent, not null).
OptionalId = Annotated[str, Field(json_schema_extra=_id_no_default), AfterValidator(_id)]


def checked_loan_id(loan_id: object) -> str:
    if not isinstance(loan_id, str) or not _ID.fullmatch(loan_id):
        raise InvalidArgument(f"loan_id: {ID_RULE}", "loan_id")
    return loan_id

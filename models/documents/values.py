"""A field's printed text → its value in one canonical form, and whether it passes its rule.

`parse(type, text)` is None when the text does not hold a value of that type at all (then the reader
looks further); `valid` is False when it does but fails its check character or is not a real date.
"""

from __future__ import annotations

import re

from finfer.models.documents.kinds import Type

# The loan file's finders (VIN with its repairs, plate, ID number, date) serve the catalogue's types too.
from finfer.models.ocr.fields import (
    DATE_PATTERN,
    find_date,
    find_id_number,
    find_plate,
    find_vin,
    is_date,
    normalise,
)

# GB 32100: the 31 characters a unified social credit code is written in, and the weights of its
# first 17; the 18th is chosen so that the weighted sum is 0 mod 31.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
LONG_TERM = "long-term"  # a validity period printed 长期

Parsed = tuple[str, bool] | None

_DATE = DATE_PATTERN.pattern
MONTH = re.compile(r"((?:19|20)[0-9]{2})\s*[年\-/.]\s*([01]?[0-9])\s*月?")
PERIOD = re.compile(_DATE + r"\s*(?:至|到|-|—|~|－|起至)\s*(?:" + _DATE + r"|(长期))")
AMOUNT = re.compile(r"(?<![0-9.])([0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(\.[0-9]{1,2})?\s*(万)?")
NAME = re.compile(r"[\u4e00-\u9fff]{2,4}|[\u4e00-\u9fff]{1,8}·[\u4e00-\u9fff]{1,8}")


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_is_valid(code: str) -> bool:
    return len(code) == 18 and all(c in USCC_ALPHABET for c in code) and code[17] == uscc_check_char(code[:17])


def luhn_check_digit(body: str) -> str:
    """The digit that makes `body` + digit pass Luhn (ISO/IEC 7812)."""
    total = 0
    for i, char in enumerate(reversed(body)):
        digit = int(char) * (2 if i % 2 == 0 else 1)
        total += digit - 9 if digit > 9 else digit
    return str((10 - total % 10) % 10)


def luhn_is_valid(number: str) -> bool:
    return number.isdigit() and len(number) >= 12 and number[-1] == luhn_check_digit(number[:-1])


def _date(groups: tuple[str, str, str]) -> tuple[str, bool]:
    year, month, day = (int(g) for g in groups)
    return f"{year:04d}-{month:02d}-{day:02d}", is_date(year, month, day)


def _compact(text: str) -> str:
    return normalise(text).upper()


def _identifier(text: str, length: int, alphabet: str) -> str | None:
    compact = _compact(text)
    pattern = rf"(?<![{alphabet}])[{alphabet}]{{{length}}}(?![{alphabet}])"
    match = re.search(pattern, compact)
    return match.group(0) if match else None


def parse(type_: Type, text: str) -> Parsed:
    text = text.strip(" :：")
    if not text:
        return None
    return PARSERS[type_](text)


def _text(text: str) -> Parsed:
    return normalise(text), True


def _name(text: str) -> Parsed:
    """A name stands alone in its place: text around it means this is not the name."""
    match = NAME.fullmatch(normalise(text).strip(":："))
    return (match.group(0), True) if match else None


def _uscc(text: str) -> Parsed:
    found = _identifier(text, 18, "0-9A-Z")
    return None if found is None else (found, uscc_is_valid(found))


def _card(text: str) -> Parsed:
    digits = re.sub(r"[\s\-]", "", _compact(text))
    match = re.search(r"(?<![0-9])[0-9]{16,19}(?![0-9])", digits)
    return None if match is None else (match.group(0), luhn_is_valid(match.group(0)))


def _month(text: str) -> Parsed:
    match = MONTH.search(normalise(text))
    if match is None:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    return f"{year:04d}-{month:02d}", 1 <= month <= 12


def _period(text: str) -> Parsed:
    match = PERIOD.search(normalise(text))
    if match is None:
        return None
    start, start_ok = _date(match.groups()[:3])
    if match.group(7):
        return f"{start}/{LONG_TERM}", start_ok
    end, end_ok = _date(match.groups()[3:6])
    return f"{start}/{end}", start_ok and end_ok and end > start


def _amount(text: str) -> Parsed:
    match = AMOUNT.search(normalise(text).replace("，", ","))
    if match is None:
        return None
    value = float(match.group(1).replace(",", "") + (match.group(2) or ""))
    return f"{value * (10_000 if match.group(3) else 1):.2f}", True


def _integer(text: str) -> Parsed:
    match = re.search(r"[0-9]+", normalise(text))
    return None if match is None else (str(int(match.group(0))), True)


def _code(text: str) -> Parsed:
    """A code fills its place: a number with a unit or a decimal point (151.42㎡) is not one. Engine,
    policy and certificate numbers avoid the letters O and I, as VINs and plates do, because they read
    like 0 and 1: the recogniser's O and I in a code are the digits."""
    match = re.fullmatch(r"(?:No\.?|NO\.?)?([A-Za-z0-9][A-Za-z0-9\-]+)", normalise(text).strip(":："))
    if match is None:
        return None
    return match.group(1).upper().replace("O", "0").replace("I", "1"), True


PARSERS = {
    Type.TEXT: _text,
    Type.NAME: _name,
    Type.ID_NUMBER: find_id_number,
    Type.USCC: _uscc,
    Type.CARD: _card,
    Type.VIN: find_vin,
    Type.PLATE: find_plate,
    Type.DATE: find_date,
    Type.MONTH: _month,
    Type.PERIOD: _period,
    Type.AMOUNT: _amount,
    Type.INTEGER: _integer,
    Type.CODE: _code,
}
# Types whose value carries a check character: an invalid one is a CHECKSUM_INVALID finding.
CHECKED = frozenset({Type.ID_NUMBER, Type.USCC, Type.CARD, Type.VIN})

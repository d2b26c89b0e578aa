"""Fields a lender reads from OCR lines: VIN, Chinese plate, resident ID number, amount, date.

Each validator is a plain function over strings; `extract_fields` runs them over the recognised
lines and keeps, for each field, the best candidate with the confidence and box of its line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

# ISO 3779: letters are transliterated to numbers; I, O and Q are never used.
VIN_LETTER_VALUES = dict(
    zip("ABCDEFGHJKLMNPRSTUVWXYZ", (1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9, 2, 3, 4, 5, 6, 7, 8, 9), strict=True)
)
VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
VIN_ALPHABET = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
# Letters a VIN never holds: OCR read a digit as them.
VIN_ILLEGAL = {"I": "1", "O": "0", "Q": "0"}
# Pairs OCR mixes up on VIN plates: each character maps to what it may really be.
VIN_CONFUSIONS: dict[str, str] = {
    "0": "D",
    "D": "0",
    "1": "L",
    "L": "1",
    "2": "Z",
    "Z": "2",
    "5": "S",
    "S": "5",
    "8": "B",
    "B": "8",
    "6": "G",
    "G": "6",
    "U": "V",
    "V": "U",
}

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
# Province, issuing-office letter, then 5 characters (6 for new-energy plates). Plates never use I or
# O, so find_plate reads them as 1 and 0 (the office letter is never O or I either).
PLATE_PATTERN = re.compile(rf"([{PROVINCES}])([A-HJ-NP-Z])[·•.\-\s]?([A-HJ-NP-Z0-9]{{5,6}})")
AMOUNT_PATTERN = re.compile(r"(?:人民币|金额|¥|￥|RMB)\s*[:：]?\s*([0-9][0-9,]*(?:\.[0-9]{1,2})?)\s*(万)?")
DATE_PATTERN = re.compile(r"(20[0-9]{2}|19[0-9]{2})\s*[年\-/.]\s*([01]?[0-9])\s*[月\-/.]\s*([0-3]?[0-9])\s*日?")


@dataclass(frozen=True)
class Line:
    text: str
    confidence: float
    box: tuple[tuple[float, float], ...]  # four corners, clockwise from top-left, in image pixels


@dataclass(frozen=True)
class Field:
    value: str
    valid: bool
    confidence: float
    box: tuple[tuple[float, float], ...]

    def to_dict(self) -> dict:
        return asdict(self)


def vin_check_digit(vin: str) -> str:
    """The ninth character a VIN must carry: the weighted sum of the other 16, mod 11 (10 is X)."""
    total = sum(_vin_value(c) * w for c, w in zip(vin, VIN_WEIGHTS, strict=True))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def _vin_value(char: str) -> int:
    return int(char) if char.isdigit() else VIN_LETTER_VALUES[char]


def vin_is_valid(vin: str) -> bool:
    return len(vin) == 17 and all(c in VIN_ALPHABET for c in vin) and vin[8] == vin_check_digit(vin)


def correct_vin(candidate: str) -> tuple[str, bool]:
    """The VIN as read when it validates; else repaired, and reported valid only if the repair is certain.

    I, O and Q cannot be in a VIN, so they become 1, 0 and 0. Then, if the check digit still fails,
    each single swap of a usual OCR confusion (8↔B, 5↔S, 2↔Z, ...) is tried; a swap is taken only
    when exactly one validates. The check digit catches a random error with probability 10/11 only,
    so trying more (two swaps, any character) would "validate" wrong VINs.
    """
    fixed = "".join(VIN_ILLEGAL.get(c, c) for c in candidate)
    if vin_is_valid(fixed):
        return fixed, True
    if len(fixed) != 17:
        return fixed, False
    repairs = {
        fixed[:i] + other + fixed[i + 1 :]
        for i, char in enumerate(fixed)
        for other in VIN_CONFUSIONS.get(char, "")
        if vin_is_valid(fixed[:i] + other + fixed[i + 1 :])
    }
    if len(repairs) == 1:
        return repairs.pop(), True
    return fixed, False


def id_check_char(first17: str) -> str:
    return ID_CHECK_CHARS[sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


def id_number_is_valid(number: str) -> bool:
    """GB 11643: 17 digits and a check character (0-9 or X); the birth date must be a real date."""
    if not re.fullmatch(r"[0-9]{17}[0-9X]", number):
        return False
    return is_date(int(number[6:10]), int(number[10:12]), int(number[12:14])) and number[17] == id_check_char(
        number[:17]
    )


def is_date(year: int, month: int, day: int) -> bool:
    import datetime

    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return 1900 <= year <= 2100


def normalise(text: str) -> str:
    """Full-width forms to ASCII and no spaces: how candidates are searched for."""
    out = []
    for char in text:
        code = ord(char)
        if 0xFF01 <= code <= 0xFF5E:
            char = chr(code - 0xFEE0)
        elif char == "\u3000":
            char = " "
        out.append(char)
    return "".join(out).replace(" ", "")


def find_vin(text: str) -> tuple[str, bool] | None:
    """A 17-character run of VIN characters in one line, corrected if needed. Runs of other lengths
    (an 18-digit ID number) and all-digit runs are not VINs: every manufacturer code has a letter."""
    # Recognisers drop spaces, so a label sticks to the number; "VIN" holds an I, so no VIN contains it.
    upper = normalise(text).upper().replace("VIN", " ")
    for match in re.finditer(r"(?<![A-Z0-9])[A-Z0-9]{17}(?![A-Z0-9])", upper):
        run = match.group(0)
        if not any(c.isalpha() for c in run):
            continue
        return correct_vin(run)
    return None


def find_plate(text: str) -> tuple[str, bool] | None:
    match = PLATE_PATTERN.search(normalise(text).upper().replace("O", "0").replace("I", "1"))
    if not match:
        return None
    return f"{match.group(1)}{match.group(2)}{match.group(3)}", True


def find_id_number(text: str) -> tuple[str, bool] | None:
    compact = normalise(text).upper()
    match = re.search(r"(?<![0-9])[0-9]{17}[0-9X](?![0-9])", compact)
    if not match:
        return None
    return match.group(0), id_number_is_valid(match.group(0))


def find_amount(text: str) -> tuple[str, bool] | None:
    """An amount in yuan, as a decimal string with two places ("120000.00")."""
    match = AMOUNT_PATTERN.search(normalise(text))
    if not match:
        return None
    digits = match.group(1).replace(",", "")
    try:
        value = float(digits) * (10_000 if match.group(2) else 1)
    except ValueError:
        return None
    return f"{value:.2f}", True


def find_date(text: str) -> tuple[str, bool] | None:
    """An ISO date (YYYY-MM-DD); valid says whether it is a real calendar date."""
    match = DATE_PATTERN.search(normalise(text))
    if not match:
        return None
    year, month, day = (int(g) for g in match.groups())
    return f"{year:04d}-{month:02d}-{day:02d}", is_date(year, month, day)


FINDERS = {
    "vin": find_vin,
    "plate": find_plate,
    "id_number": find_id_number,
    "amount": find_amount,
    "date": find_date,
}


def first_found(finder: Callable[[str], tuple[str, bool] | None], lines: Sequence[Line]) -> Field | None:
    """The first valid candidate in reading order, else the first candidate, else None."""
    candidates = []
    for line in lines:
        found = finder(line.text)
        if found is not None:
            candidates.append(Field(found[0], found[1], line.confidence, line.box))
    valid = [c for c in candidates if c.valid]
    return (valid or candidates or [None])[0]


def extract_fields(lines: Sequence[Line]) -> dict[str, Field | None]:
    """Per field, its first_found candidate."""
    return {name: first_found(finder, lines) for name, finder in FINDERS.items()}


def field_state(found: object) -> str:
    """How a field reads on a page, as drift counts it: `valid`, `invalid` (found, fails its check) or `absent`."""
    if found is None:
        return "absent"
    return "valid" if getattr(found, "valid", False) else "invalid"

"""Slot values of customer messages: Chinese and Arabic numerals → yuan and months.

Parsers are what serving runs on the span the tagger marked; renderers are what the corpus
generator writes, so the two are tested against each other.
"""

from __future__ import annotations

import random
import re

DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "幺": 1,
    "二": 2,
    "两": 2,
    "俩": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
CURRENCY = "元块钱圆rmbRMB¥ "
_ARABIC = re.compile(r"^\d+(\.\d+)?$")
_CN = "零一二三四五六七八九"


def chinese_number(text: str) -> int | None:
    """ "三十六" → 36, "两" → 2, "一百二十" → 120; None when `text` is not a Chinese numeral below 10,000."""
    if not text or any(c not in DIGITS and c not in UNITS for c in text):
        return None
    total, current = 0, 0
    for char in text:
        if char in DIGITS:
            current = DIGITS[char]
        else:
            total += (current or 1) * UNITS[char]
            current = 0
    return total + current


def number(text: str) -> float | None:
    """Arabic ("15", "1.5") or Chinese ("十五") numeral."""
    if _ARABIC.match(text):
        return float(text)
    value = chinese_number(text)
    return None if value is None else float(value)


def _with_unit(text: str, unit: str, scale: int) -> float | None:
    """ "3万5" → 35,000 and "一万五" → 15,000: a lone digit after the unit counts in the next unit down."""
    head, _, tail = text.partition(unit)
    lead = number(head) if head else 1.0
    if lead is None:
        return None
    if not tail:
        return lead * scale
    if len(tail) == 1 and (tail.isdigit() or tail in DIGITS):
        return lead * scale + float(number(tail) or 0) * scale / 10
    rest = parse_amount(tail)
    return None if rest is None else lead * scale + rest


def parse_amount(text: str) -> int | None:
    """ "15万" → 150000, "二十万" → 200000, "5万块" → 50000, "1.5w" → 15000, "8000元" → 8000."""
    cleaned = text.strip().lower().replace(",", "").replace("，", "")
    cleaned = cleaned.rstrip(CURRENCY.lower()).lstrip("¥")
    cleaned = cleaned.replace("w", "万").replace("k", "千")
    if not cleaned:
        return None
    value: float | None
    if "万" in cleaned:
        value = _with_unit(cleaned, "万", 10_000)
    elif "千" in cleaned:
        value = _with_unit(cleaned, "千", 1_000)
    else:
        value = number(cleaned)
    if value is None or value <= 0:
        return None
    return int(round(value))


def parse_term(text: str) -> int | None:
    """ "36期" → 36, "3年" → 36, "三个月" → 3, "半年" → 6, "一年半" → 18."""
    cleaned = text.strip().replace(" ", "")
    if cleaned == "半年":
        return 6
    for suffix, scale in (("个月", 1), ("月", 1), ("期", 1), ("年半", 12), ("年", 12)):
        if cleaned.endswith(suffix):
            value = number(cleaned[: -len(suffix)])
            if value is None or value <= 0:
                return None
            months = value * scale + (6 if suffix == "年半" else 0)
            return int(round(months))
    return None


def to_chinese(value: int) -> str:
    """Integers below 100,000 as Chinese numerals: 36 → "三十六", 15 → "十五", 2 → "二"."""
    if value == 0:
        return "零"
    if value >= 100_000:
        raise ValueError(f"{value} is too large for to_chinese")
    parts = []
    zero = False
    for unit, name in ((10_000, "万"), (1_000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit, value = divmod(value, unit)
        if digit:
            if zero:
                parts.append("零")
            parts.append(_CN[digit] + name)
            zero = False
        elif parts:
            zero = True
    text = "".join(parts)
    return text[1:] if text.startswith("一十") else text


def render_amount(yuan: int, rng: random.Random) -> str:
    """One of the ways people write an amount of money (every form parses back to `yuan`)."""
    forms = [f"{yuan}", f"{yuan}元", f"{yuan}块"]
    wan, rest = divmod(yuan, 10_000)
    if wan and rest == 0:
        forms += [f"{wan}万", f"{wan}w", f"{to_chinese(wan).replace('二', '两', 1) if wan == 2 else to_chinese(wan)}万"]
        forms += [f"{wan}万块", f"{to_chinese(wan)}万元", f"{wan}万元"]
    elif wan and rest % 1_000 == 0:
        thousands = rest // 1_000
        forms += [f"{yuan / 10_000:g}万", f"{wan}万{thousands}", f"{to_chinese(wan)}万{_CN[thousands]}"]
    elif not wan and yuan % 1_000 == 0:
        forms += [f"{yuan // 1_000}千", f"{_CN[yuan // 1_000]}千块", f"{yuan // 1_000}k"]
    return rng.choice(forms)


def render_ratio(rng: random.Random) -> str:
    """A share as people write it ("两成", "百分之三十", "30%"): never an amount of money."""
    tenths = rng.randint(1, 5)
    percent = rng.choice((10, 15, 20, 25, 30, 35, 40, 50))
    forms = [
        f"{'两' if tenths == 2 else _CN[tenths]}成",
        f"{_CN[tenths]}成半",
        f"百分之{to_chinese(percent)}",
        f"{percent}%",
        f"{percent}％",
        f"百分之{percent}",
    ]
    return rng.choice(forms)


def render_term(months: int, rng: random.Random) -> str:
    forms = [f"{months}期", f"{to_chinese(months)}期", f"{months}个月", f"{to_chinese(months)}个月"]
    years, rest = divmod(months, 12)
    if years and rest == 0:
        forms += [f"{years}年", f"{'两' if years == 2 else to_chinese(years)}年"]
    if months == 6:
        forms.append("半年")
    if years and rest == 6:
        forms.append(f"{to_chinese(years)}年半")
    return rng.choice(forms)

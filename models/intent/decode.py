"""From the encoder's outputs to an answer: intent, confidence, normalised slots, hand-off to a person.

Plain numpy: Triton's `intent_decode` step, the evaluation and the bench's baseline all call it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from finfer.models.intent.labels import INTENTS
from finfer.models.intent.slots import chinese_number, parse_amount, parse_term, to_chinese
from finfer.models.intent.tokenizer import TAGS

PARSERS = {"amount": parse_amount, "term_months": parse_term}
NO_VALUE = -1  # int64 tensors carry "no slot" as -1


@dataclass(frozen=True)
class IntentAnswer:
    intent: str
    confidence: float
    amount: int | None
    term_months: int | None
    needs_human: bool


def slot_spans(tags: np.ndarray, offsets: np.ndarray) -> list[tuple[int, int, str]]:
    """BIO tags of one text's tokens → (start, end, slot) character spans; a stray I- opens a span."""
    spans: list[list] = []
    open_slot = None
    for tag, (start, end) in zip(tags.tolist(), offsets.tolist(), strict=True):
        label = TAGS[tag]
        if end <= start or label == "O":
            open_slot = None
            continue
        kind, slot = label.split("-", 1)
        if kind == "I" and open_slot == slot:
            spans[-1][1] = end
        else:
            spans.append([start, end, slot])
            open_slot = slot
    return [(start, end, slot) for start, end, slot in spans]


def slot_values(text: str, spans: list[tuple[int, int, str]]) -> dict[str, int | None]:
    """The first span of each slot that parses, once the text around it is read: a ratio is not an amount,
    and an amount run straight into a term ("五万两年") is split where the term begins."""
    values: dict[str, int | None] = dict.fromkeys(PARSERS)
    for start, end, slot in spans:
        if slot == "amount" and is_ratio(text, start, end):
            continue
        if slot == "amount" and values["amount"] is None:
            both = amount_then_term(text, start)
            if both is not None:
                values["amount"], values["term_months"] = both
                continue
        if values[slot] is None:
            values[slot] = PARSERS[slot](text[start:end])
    return values


# A share, not money: "两成", "30%", "百分之三十", "八折".
_RATIO_AFTER = re.compile(r"^\s*(成|%|％|折|个点)")
_AMOUNT_THEN_TERM = re.compile(
    r"([0-9]+(?:\.[0-9]+)?|[零一二两三四五六七八九十百]+)\s*(万|千|w|W|k|K)(元|块)?"
    r"([0-9]+|[一二两三四五六七八九十]+)(个月|月|期|年半|年)"
)


def is_ratio(text: str, start: int, end: int) -> bool:
    return bool(_RATIO_AFTER.match(text[end:])) or text[max(0, start - 3) : start + 3].find("百分之") >= 0


def amount_then_term(text: str, start: int) -> tuple[int, int] | None:
    """(yuan, months) when the amount at `start` runs straight into a term: "借五万两年" → (50000, 24)."""
    match = _AMOUNT_THEN_TERM.match(text, start)
    if match is None:
        return None
    amount_text, digits, unit = "".join(filter(None, match.group(1, 2, 3))), match.group(4), match.group(5)
    # "一万五二十四个月": the 五 may close the amount (一万五 = 15,000) when what is left is a numeral as
    # people write it; a 元 or 块 closes the amount itself.
    for cut in (0,) if match.group(3) else (0, 1):
        if _written(digits[cut:]):
            amount, term = parse_amount(amount_text + digits[:cut]), parse_term(digits[cut:] + unit)
            if amount is not None and term is not None:
                return amount, term
    return None


def _written(numeral: str) -> bool:
    """A numeral as people write it: "18", "十八", "二十四", "两"; not "五二十四"."""
    if numeral.isdigit():
        return not numeral.startswith("0")
    value = chinese_number(numeral)
    return value is not None and value < 100_000 and to_chinese(value) == numeral.replace("两", "二")


def decode(
    texts: Sequence[str],
    offsets: np.ndarray,
    attention_mask: np.ndarray,
    intent_probabilities: np.ndarray,
    slot_logits: np.ndarray,
    threshold: float,
) -> list[IntentAnswer]:
    best = intent_probabilities.argmax(axis=1)
    tags = np.where(attention_mask == 1, slot_logits.argmax(axis=2), 0)
    answers = []
    for row, text in enumerate(texts):
        confidence = float(intent_probabilities[row, best[row]])
        values = slot_values(text, slot_spans(tags[row], offsets[row]))
        answers.append(
            IntentAnswer(
                intent=INTENTS[best[row]],
                confidence=confidence,
                amount=values["amount"],
                term_months=values["term_months"],
                needs_human=confidence < threshold,
            )
        )
    return answers

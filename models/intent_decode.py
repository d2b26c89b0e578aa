"""From the encoder's outputs to an answer: intent, confidence, normalised slots, hand-off to a person.

Plain numpy: Triton's `intent_decode` step, the evaluation and the bench's baseline all call it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from finfer.models.intent_corpus import INTENTS
from finfer.models.intent_slots import parse_amount, parse_term
from finfer.models.intent_tokenizer import TAGS

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
    """The first span of each slot that parses."""
    values: dict[str, int | None] = dict.fromkeys(PARSERS)
    for start, end, slot in spans:
        if values[slot] is None:
            values[slot] = PARSERS[slot](text[start:end])
    return values


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

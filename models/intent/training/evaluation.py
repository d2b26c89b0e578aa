"""Held-out quality of the intent model: accuracy, slot exact match, hand-off rates, confusion."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from finfer.models.intent.decode import IntentAnswer, decode
from finfer.models.intent.labels import INTENTS
from finfer.models.intent.tokenizer import Batch, encode
from finfer.models.intent.training.corpus import Example

# input batch → (intent probabilities, slot logits): torch, onnxruntime FP32 or INT8
Runner = Callable[[Batch], tuple[np.ndarray, np.ndarray]]


def answer_all(
    tokenizer, run: Runner, texts: Sequence[str], threshold: float, batch_size: int = 256
) -> list[IntentAnswer]:
    answers: list[IntentAnswer] = []
    for first in range(0, len(texts), batch_size):
        chunk = list(texts[first : first + batch_size])
        batch = encode(tokenizer, chunk)
        probabilities, slots = run(batch)
        answers += decode(chunk, batch.offsets, batch.attention_mask, probabilities, slots, threshold)
    return answers


def evaluate(answers: Sequence[IntentAnswer], examples: Sequence[Example]) -> dict:
    in_scope = [(a, e) for a, e in zip(answers, examples, strict=True) if e.intent is not None]
    off_topic = [a for a, e in zip(answers, examples, strict=True) if e.intent is None]
    correct = [a.intent == e.intent for a, e in in_scope]
    slots_exact = [(a.amount, a.term_months) == (e.amount, e.term_months) for a, e in in_scope]
    with_slots = [ok for ok, (_, e) in zip(slots_exact, in_scope, strict=True) if e.spans]
    handled = [ok for ok, (a, _) in zip(correct, in_scope, strict=True) if not a.needs_human]
    confusion = np.zeros((len(INTENTS), len(INTENTS)), dtype=int)
    for a, e in in_scope:
        confusion[INTENTS.index(e.intent), INTENTS.index(a.intent)] += 1
    frames = sorted({e.frame for _, e in in_scope if e.frame})
    by_frame = {
        frame: float(np.mean([ok for ok, (_, e) in zip(slots_exact, in_scope, strict=True) if e.frame == frame]))
        for frame in frames
    }
    return {
        "messages": len(in_scope),
        "intent_accuracy": float(np.mean(correct)),
        "slot_exact_match": float(np.mean(slots_exact)),
        "slot_exact_match_with_slots": float(np.mean(with_slots)) if with_slots else None,
        "messages_with_slots": len(with_slots),
        # Held-out messages opening with a hard slot wording (intent_corpus.SLOT_FRAMES), per class.
        "slot_exact_match_by_frame": by_frame,
        "needs_human_rate": float(np.mean([a.needs_human for a, _ in in_scope])),
        "accuracy_when_not_handed_off": float(np.mean(handled)) if handled else None,
        "out_of_scope_messages": len(off_topic),
        "out_of_scope_to_human_rate": float(np.mean([a.needs_human for a in off_topic])) if off_topic else None,
        "confusion": {"labels": list(INTENTS), "rows_true_columns_predicted": confusion.tolist()},
    }

"""Slot exact match of a built repository's served intent pipeline on the held-out test split, overall and
per hard slot wording (intent_corpus.SLOT_FRAMES): `python -m finfer.loadtest.intent_slots [REPOSITORY]`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from finfer import paths
from finfer.exporters.intent import load_served
from finfer.models.intent.training.corpus import CorpusSpec, generate
from finfer.models.intent.training.evaluation import evaluate

KEYS = ("messages", "intent_accuracy", "slot_exact_match", "slot_exact_match_with_slots", "slot_exact_match_by_frame")


def main(argv: list[str]) -> int:
    repository = Path(argv[0]) if argv else paths.MODEL_REPOSITORY
    served = load_served(repository, threads=2)
    test = generate(CorpusSpec()).test
    quality = evaluate(served.answer([e.text for e in test]), test)
    print(json.dumps({k: quality[k] for k in KEYS}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

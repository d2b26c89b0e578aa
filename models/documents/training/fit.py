"""The kind classifier, trained on rendered training layouts as a recogniser would read them."""

from __future__ import annotations

import random

from finfer.models.documents.classifier import KindClassifier, train
from finfer.models.documents.training.noise import as_read
from finfer.models.documents.training.pages import pages


def fit(per_kind: int, seed: int) -> KindClassifier:
    rng = random.Random(seed)
    samples = [(as_read(page.texts, rng), page.kind) for page in pages(per_kind, seed, False, photographed=False)]
    return train(samples)

"""Which kind a page is, from the text read on it: character unigrams and bigrams → logistic regression.

The labels and titles a kind prints (身份证号码, 价税合计, 缴存基数) are what sets papers apart, and the
recogniser has already read them, so the classifier costs a dictionary look-up a character and one
small matrix product: nothing beside the page's OCR. It is trained on the rendered pages' texts with
the recogniser's typical errors added (training/kinds.py), and measured on held-out layouts read by OCR.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from finfer.models.documents.kinds import UNKNOWN
from finfer.models.ocr.fields import normalise

FILE = "kinds.npz"


def grams(texts: Iterable[str]) -> set[str]:
    """Every character and every pair of neighbouring characters, line by line."""
    found: set[str] = set()
    for text in texts:
        compact = normalise(text)
        found.update(compact)
        found.update(compact[i : i + 2] for i in range(len(compact) - 1))
    return found


@dataclass(frozen=True)
class Guess:
    kind: str
    confidence: float


@dataclass(frozen=True)
class KindClassifier:
    vocabulary: dict[str, int]
    weights: np.ndarray  # [vocabulary, kinds]
    bias: np.ndarray  # [kinds]
    kinds: tuple[str, ...]

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        columns = [self.vocabulary[g] for g in grams(texts) if g in self.vocabulary]
        scores = self.bias.copy()
        if columns:
            # The training rows were L2-normalised binary vectors: the same here.
            scores += self.weights[columns].sum(0) / np.sqrt(len(columns))
        scores -= scores.max()
        exp = np.exp(scores)
        return exp / exp.sum()

    def classify(self, texts: Sequence[str]) -> Guess:
        """The likeliest kind and its probability; a page with no text at all is unknown, surely."""
        if not any(t.strip() for t in texts):
            return Guess(UNKNOWN, 1.0)
        probabilities = self.probabilities(texts)
        best = int(probabilities.argmax())
        return Guess(self.kinds[best], round(float(probabilities[best]), 4))

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        words = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        np.savez_compressed(
            buffer,
            vocabulary=np.array(words),
            weights=self.weights.astype(np.float32),
            bias=self.bias.astype(np.float32),
            kinds=np.array(self.kinds),
        )
        return buffer.getvalue()

    @classmethod
    def load(cls, path: Path) -> KindClassifier:
        with np.load(path, allow_pickle=False) as saved:
            vocabulary = {str(word): i for i, word in enumerate(saved["vocabulary"])}
            kinds = tuple(str(k) for k in saved["kinds"])
            return cls(vocabulary, saved["weights"], saved["bias"], kinds)


def train(samples: Sequence[tuple[Sequence[str], str]], strength: float = 20.0, min_count: int = 2) -> KindClassifier:
    """Multinomial logistic regression over binary gram vectors (L2-normalised rows); grams seen on
    fewer than `min_count` training pages are left out (names and numbers, mostly)."""
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression

    counts: dict[str, int] = {}
    page_grams = [grams(texts) for texts, _ in samples]
    for found in page_grams:
        for gram in found:
            counts[gram] = counts.get(gram, 0) + 1
    vocabulary = {g: i for i, g in enumerate(sorted(g for g, n in counts.items() if n >= min_count))}
    rows, columns, values = [], [], []
    for row, found in enumerate(page_grams):
        kept = [vocabulary[g] for g in found if g in vocabulary]
        rows += [row] * len(kept)
        columns += kept
        values += [1 / np.sqrt(max(1, len(kept)))] * len(kept)
    matrix = csr_matrix((values, (rows, columns)), shape=(len(samples), len(vocabulary)), dtype=np.float32)
    kinds = tuple(sorted({kind for _, kind in samples}))
    labels = np.array([kinds.index(kind) for _, kind in samples])
    model = LogisticRegression(C=strength, max_iter=300)
    model.fit(matrix, labels)
    return KindClassifier(
        vocabulary, model.coef_.T.astype(np.float32).copy(), model.intercept_.astype(np.float32), kinds
    )

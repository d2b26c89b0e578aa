"""One page's reading: the kind recognised with its confidence, and the fields of that kind.

What `ocr_read` adds after the recogniser, and what the in-process reference and the build compute:
one function, so the served answer and the measured one cannot differ.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from finfer.models.documents.classifier import KindClassifier
from finfer.models.documents.kinds import BY_NAME, UNKNOWN
from finfer.models.documents.reading import read_fields
from finfer.models.ocr.fields import Field, Line, field_state


@dataclass(frozen=True)
class PageReading:
    kind: str
    kind_confidence: float
    fields: dict[str, Field]

    def to_dict(self) -> dict:
        fields = {name: field.to_dict() for name, field in self.fields.items()}
        return {"kind": self.kind, "kind_confidence": self.kind_confidence, "fields": fields}

    def drift_states(self) -> dict[str, str]:
        return drift_states(self.kind, self.fields)


def page_reading(classifier: KindClassifier, lines: Sequence[Line]) -> PageReading:
    guess = classifier.classify([line.text for line in lines])
    fields = {} if guess.kind == UNKNOWN else read_fields(BY_NAME[guess.kind], lines)
    return PageReading(guess.kind, guess.confidence, fields)


def drift_states(kind: str, fields: Mapping[str, object]) -> dict[str, str]:
    """The kind, and how each of its fields read (valid, invalid, absent): what drift windows count."""
    states = {"kind": kind}
    if kind in BY_NAME:
        states |= {f"{kind}.{spec.name}": field_state(fields.get(spec.name)) for spec in BY_NAME[kind].fields}
    return states

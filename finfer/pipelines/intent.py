"""Customer intent: one Chinese message → intent, confidence, amount and term, and whether a person should read it.

Served by the `customer_intent` ensemble. Answers are deterministic for a model version and a
message, so they are cached like risk scores; keys are salted hashes, so a message (which may hold a
name or a phone number) is never stored in clear.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from finfer.errors import InvalidArgument
from finfer.pipelines.declaration import Answer, Batch, BuildTime, Codec, Comparison, Encoded, Outputs, Pipeline, Tensor
from finfer.pipelines.validation import object_with, valid_text
from finfer.wire import finfer_pb2


@dataclass(frozen=True)
class Slots:
    amount: int | None = None
    term_months: int | None = None


@dataclass(frozen=True)
class Intent:
    intent: str
    confidence: float
    slots: Slots
    needs_human: bool


def _slot(value: int) -> int | None:
    return None if value < 0 else int(value)  # intent_decode writes -1 for "none named"


class IntentCodec(Codec[str, Intent]):
    def __init__(self, meta: dict[str, Any]) -> None:
        super().__init__(meta)
        self.max_chars: int = meta["max_chars"]

    def row(self, payload: object) -> str:
        body = object_with(payload, {"text"}, "the string `text`")
        if "text" not in body:
            raise InvalidArgument("text: is required", "text")
        return valid_text(body["text"], "text", self.max_chars)

    def batch_row(self, item: object, where: str) -> str:
        return valid_text(item, where, self.max_chars)

    def key(self, row: str) -> tuple:
        return (row,)

    def compare(self, served: Intent, other: Intent) -> Comparison:
        return Comparison(
            agree=(served.intent, served.needs_human) == (other.intent, other.needs_human),
            difference=abs(served.confidence - other.confidence),
        )

    def encode(self, rows: Sequence[str]) -> Encoded:
        return {"text": ((len(rows), 1), rows)}

    def decode(self, outputs: Outputs, rows: Sequence[str]) -> list[Intent]:
        return [
            Intent(
                outputs["intent"][i],
                outputs["confidence"][i],
                Slots(_slot(outputs["amount"][i]), _slot(outputs["term_months"][i])),
                bool(outputs["needs_human"][i]),
            )
            for i in range(len(rows))
        ]

    def request_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["text"],
            "additionalProperties": False,
            "properties": {"text": self.item_schema()},
        }

    def drift_inputs(self, row: str) -> dict[str, object]:
        return {"characters": len(row)}

    def drift_outputs(self, result: Intent) -> dict[str, object]:
        return {"intent": result.intent, "confidence": result.confidence, "needs_human": result.needs_human}

    def item_schema(self) -> dict[str, Any]:
        # Not whitespace only (surrounding whitespace is removed before the length is counted).
        return {"type": "string", "minLength": 1, "maxLength": self.max_chars, "pattern": r"\S"}


def to_proto(answer: Answer[Intent]) -> finfer_pb2.IntentResponse:
    result = answer.result
    slots = {"amount": result.slots.amount, "term_months": result.slots.term_months}
    return finfer_pb2.IntentResponse(
        intent=result.intent,
        confidence=result.confidence,
        slots=finfer_pb2.IntentSlots(**{k: v for k, v in slots.items() if v is not None}),
        needs_human=result.needs_human,
        **answer.envelope(),
    )


def examples(n: int, seed: int) -> list[dict[str, Any]]:
    from finfer.models.intent.training.corpus import intent_messages

    return [{"text": text} for text in intent_messages(n, seed)]


PIPELINE = Pipeline(
    name="intent",
    triton_model="customer_intent",
    inputs=(Tensor("text", "BYTES"),),
    outputs=(
        Tensor("intent", "BYTES"),
        Tensor("confidence", "FP32"),
        Tensor("amount", "INT64"),
        Tensor("term_months", "INT64"),
        Tensor("needs_human", "BOOL"),
    ),
    family="intent",
    exporter="finfer.exporters.intent:IntentExporter",
    meta="intent_decode/1/meta.json",
    codec=IntentCodec,
    result=Intent,
    http_path="/v1/intent",
    grpc_service="CustomerIntent",
    grpc_method="Classify",
    summary="Intent, amount and term of one Chinese customer message; `needs_human` when the model is unsure.",
    from_proto=lambda request: {"text": request.text},
    to_proto=to_proto,
    examples=examples,
    batch=Batch(
        http_path="/v1/intent:batch",
        grpc_method="ClassifyBatch",
        field="texts",
        items="strings",
        item_schema=lambda codec: codec.item_schema(),
        from_proto=lambda request: {"texts": list(request.texts)},
        summary="Up to `max_batch_rows` messages; results come back in order.",
    ),
    cached=True,
    coalesced=True,
    build_time=BuildTime(full=275, small=27),
    tag="intent",
)

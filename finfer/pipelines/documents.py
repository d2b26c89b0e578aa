"""Document OCR: one JPEG/PNG page → its text lines (text, confidence, box), the kind of document it is,
and the fields of that kind read from the lines.

Served by the `document_ocr` ensemble, one document a request (each has its own line count). Not
cached: the same photo is rarely uploaded twice, and the key would cost a hash of megabytes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, TypeAdapter

from finfer.errors import InvalidArgument
from finfer.models.documents.kinds import ACCEPTED, KINDS, kind_mismatch
from finfer.models.documents.page import drift_states
from finfer.pipelines.declaration import (
    AdmissionBound,
    Answer,
    BuildTime,
    Codec,
    Comparison,
    Encoded,
    Outputs,
    Pipeline,
    Tensor,
)
from finfer.pipelines.validation import Upload, checked_image, name_image_field
from finfer.wire import finfer_pb2


def _pairs(value: Any) -> Any:
    """Corners as [x, y] pairs; the gRPC API's Point messages ({x, y}) read the same."""
    if isinstance(value, list):
        return [[p["x"], p["y"]] if isinstance(p, dict) else p for p in value]
    return value


# Four corners, clockwise from top-left, in image pixels.
Box = Annotated[list[list[float]], BeforeValidator(_pairs)]


@dataclass(frozen=True)
class DocumentField:
    value: str
    valid: bool
    confidence: float
    box: Box


@dataclass(frozen=True)
class DocumentLine:
    text: str
    confidence: float
    box: Box


@dataclass(frozen=True)
class Reading:
    """What ocr_read makes of the lines: the kind recognised and the fields of that kind."""

    kind: str
    kind_confidence: float
    fields: dict[str, DocumentField]


@dataclass(frozen=True)
class PageFinding:
    code: str
    text: str


@dataclass(frozen=True)
class Document:
    lines: list[DocumentLine]
    kind: str  # one of the catalogue's kinds (models/documents/kinds.py), or unknown
    kind_confidence: float
    # Only the fields found, named as the kind names them; `valid` where a check character or a
    # format rule exists (a real date, a period that ends after it starts), else true.
    fields: dict[str, DocumentField]
    sent_kind: str | None = None  # the kind the client said the page is, when it said one
    findings: list[PageFinding] = dataclasses.field(default_factory=list)  # KIND_MISMATCH: a finding, not an error


# ocr_read writes the reading as one JSON string; read back typed.
READING = TypeAdapter(Reading)


class DocumentCodec(Codec[Upload, Document]):
    def row(self, payload: object) -> Upload:
        upload = checked_image(payload)
        sent = upload.option("kind")
        if sent is not None and sent not in ACCEPTED:
            raise InvalidArgument(f"kind: must be one of {', '.join(ACCEPTED)}; got {sent!r}", "kind")
        return upload

    def key(self, row: Upload) -> tuple:
        return (row.data,)

    def compare(self, served: Document, other: Document) -> Comparison:
        def read(document: Document) -> tuple[str, dict[str, tuple[str, bool]]]:
            return document.kind, {name: (f.value, f.valid) for name, f in document.fields.items()}

        return Comparison(agree=read(served) == read(other))

    def encode(self, rows: Sequence[Upload]) -> Encoded:
        (upload,) = rows  # the ensemble has no batch dimension: one document a request
        return {"image": ((1,), [upload.data])}

    def decode(self, outputs: Outputs, rows: Sequence[Upload]) -> list[Document]:
        boxes = outputs["box"]
        lines = [
            DocumentLine(text, confidence, [boxes[8 * i + 2 * k : 8 * i + 2 * k + 2] for k in range(4)])
            for i, (text, confidence) in enumerate(zip(outputs["text"], outputs["confidence"], strict=True))
        ]
        reading = READING.validate_json(outputs["reading"][0])
        (upload,) = rows
        sent = upload.option("kind")
        mismatch = kind_mismatch(sent, reading.kind)
        findings = [PageFinding("KIND_MISMATCH", mismatch)] if mismatch is not None else []
        return [Document(lines, reading.kind, reading.kind_confidence, reading.fields, sent, findings)]

    def drift_inputs(self, row: Upload) -> dict[str, object]:
        return {}  # a page has no field to compare; what was read from it does

    def drift_outputs(self, result: Document) -> dict[str, object]:
        return drift_states(result.kind, result.fields)

    def refused(self, error: InvalidArgument, rows: Sequence[Upload]) -> InvalidArgument:
        return name_image_field(error, rows)


def page_from_proto(request: finfer_pb2.ImageRequest) -> Upload:
    return Upload(request.image, "image", (("kind", request.kind),) if request.HasField("kind") else ())


def _points(box: list[list[float]]) -> list[finfer_pb2.Point]:
    return [finfer_pb2.Point(x=x, y=y) for x, y in box]


def to_proto(answer: Answer[Document]) -> finfer_pb2.DocumentResponse:
    result = answer.result
    return finfer_pb2.DocumentResponse(
        lines=[
            finfer_pb2.DocumentLine(text=line.text, confidence=line.confidence, box=_points(line.box))
            for line in result.lines
        ],
        kind=result.kind,
        kind_confidence=result.kind_confidence,
        fields={
            name: finfer_pb2.DocumentField(value=f.value, valid=f.valid, confidence=f.confidence, box=_points(f.box))
            for name, f in result.fields.items()
        },
        sent_kind=result.sent_kind,
        findings=[finfer_pb2.PageFinding(code=f.code, text=f.text) for f in result.findings],
        **answer.envelope(),
    )


def examples(n: int, seed: int) -> list[dict[str, Any]]:
    import base64

    from finfer.models.ocr.training.documents import documents

    return [{"image_base64": base64.b64encode(d.image).decode()} for d in documents(n, seed=seed)]


def blank_page() -> Upload:
    """The health probe: a small blank page runs every OCR step for a fraction of a real page's CPU."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (96, 64), (250, 250, 250)).save(buffer, format="PNG")
    return Upload(buffer.getvalue(), "probe")


PIPELINE = Pipeline(
    name="documents",
    triton_model="document_ocr",
    inputs=(Tensor("image", "BYTES"),),
    outputs=(
        Tensor("text", "BYTES"),
        Tensor("confidence", "FP32"),
        Tensor("box", "FP32"),
        Tensor("reading", "BYTES"),
    ),
    family="ocr",
    exporter="finfer.exporters.ocr:OcrExporter",
    meta="ocr_read/1/meta.json",
    codec=DocumentCodec,
    result=Document,
    http_path="/v1/documents/ocr",
    grpc_service="DocumentOcr",
    grpc_method="Read",
    summary=(
        f"Text lines (text, confidence, box) of a JPEG/PNG page, the kind of document it is (one of {len(KINDS)}, "
        "or unknown) with a confidence, and the fields of that kind: each with its value, its box, and whether "
        "it passes its check character (ID number, VIN, social credit code, card number) or format rule."
    ),
    from_proto=page_from_proto,
    to_proto=to_proto,
    examples=examples,
    proto_body=lambda body: {"image": body["image_base64"], **({"kind": body["kind"]} if "kind" in body else {})},
    body="image",
    image_options={"kind": {"type": "string", "enum": list(ACCEPTED)}},
    one_per_request=True,
    probe=blank_page,
    build_time=BuildTime(full=75, small=12),  # the kind classifier and 192 held-out pages read: +25 s
    tag="images",
    # Three OCR instances read pages side by side (exporters/ocr.py); more in flight would only queue in Triton.
    admission=AdmissionBound(in_flight=3, queue=6),
)

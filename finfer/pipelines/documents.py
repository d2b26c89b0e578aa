"""Document OCR: one JPEG/PNG page → its text lines (text, confidence, box) and the fields read from them.

Served by the `document_ocr` ensemble, one document a request (each has its own line count). Not
cached: the same photo is rarely uploaded twice, and the key would cost a hash of megabytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Annotated, Any

from pydantic import BeforeValidator, TypeAdapter

from finfer.errors import InvalidArgument
from finfer.models.ocr.fields import field_state
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
class Fields:
    vin: DocumentField | None = None
    plate: DocumentField | None = None
    id_number: DocumentField | None = None
    amount: DocumentField | None = None
    date: DocumentField | None = None


@dataclass(frozen=True)
class DocumentLine:
    text: str
    confidence: float
    box: Box


@dataclass(frozen=True)
class Document:
    lines: list[DocumentLine]
    fields: Fields


# ocr_read writes the fields as one JSON string; read back as typed fields.
FIELDS = TypeAdapter(Fields)


class DocumentCodec(Codec[Upload, Document]):
    def row(self, payload: object) -> Upload:
        return checked_image(payload)

    def key(self, row: Upload) -> tuple:
        return (row.data,)

    def compare(self, served: Document, other: Document) -> Comparison:
        def read(document: Document) -> dict[str, tuple[str, bool] | None]:
            fields = document.fields.__dict__
            return {name: None if f is None else (f.value, f.valid) for name, f in fields.items()}

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
        return [Document(lines, FIELDS.validate_json(outputs["fields"][0]))]

    def drift_inputs(self, row: Upload) -> dict[str, object]:
        return {}  # a page has no field to compare; what was read from it does

    def drift_outputs(self, result: Document) -> dict[str, object]:
        return {f.name: field_state(getattr(result.fields, f.name)) for f in fields(Fields)}

    def refused(self, error: InvalidArgument, rows: Sequence[Upload]) -> InvalidArgument:
        return name_image_field(error, rows)


def _points(box: list[list[float]]) -> list[finfer_pb2.Point]:
    return [finfer_pb2.Point(x=x, y=y) for x, y in box]


def to_proto(answer: Answer[Document]) -> finfer_pb2.DocumentResponse:
    result = answer.result
    return finfer_pb2.DocumentResponse(
        lines=[
            finfer_pb2.DocumentLine(text=line.text, confidence=line.confidence, box=_points(line.box))
            for line in result.lines
        ],
        fields={
            name: finfer_pb2.DocumentField(value=f.value, valid=f.valid, confidence=f.confidence, box=_points(f.box))
            for name, f in ((field.name, getattr(result.fields, field.name)) for field in fields(Fields))
            if f is not None
        },
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
        Tensor("fields", "BYTES"),
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
        "Text lines (text, confidence, box) of a JPEG/PNG document and the fields read from them: "
        "VIN (check digit verified), plate, resident ID number (checksum verified), amount, date."
    ),
    from_proto=lambda request: Upload(request.image, "image"),
    to_proto=to_proto,
    examples=examples,
    proto_body=lambda body: {"image": body["image_base64"]},
    body="image",
    one_per_request=True,
    probe=blank_page,
    build_time=BuildTime(full=50, small=8),
    tag="images",
    # Three OCR instances read pages side by side (exporters/ocr.py); more in flight would only queue in Triton.
    admission=AdmissionBound(in_flight=3, queue=6),
)

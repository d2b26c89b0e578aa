"""Vehicle damage: one JPEG/PNG photo of a car panel → damage type (none, scratch, dent, crack) and severity.

Served by the `vehicle_damage` ensemble. Coalesced in the front: concurrent photos leave in one Triton call
(front CPU a photo −30%, Triton's −20% at 16 clients). A call refused for one corrupt photo is sent again a
photo at a time, so only that photo fails (front/coalescer.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from finfer.errors import InvalidArgument
from finfer.pipelines.declaration import (
    AdmissionBound,
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


@dataclass(frozen=True)
class Damage:
    damage_type: str
    severity: str
    probabilities: dict[str, float]
    severity_probabilities: dict[str, float]


class DamageCodec(Codec[Upload, Damage]):
    def __init__(self, meta: dict[str, Any]) -> None:
        super().__init__(meta)
        self.damage_types: list[str] = meta["damage_types"]
        self.severities: list[str] = meta["severities"]

    def row(self, payload: object) -> Upload:
        return checked_image(payload)

    def key(self, row: Upload) -> tuple:
        return (row.data,)

    def compare(self, served: Damage, other: Damage) -> Comparison:
        return Comparison(
            agree=(served.damage_type, served.severity) == (other.damage_type, other.severity),
            difference=max(abs(p - other.probabilities[t]) for t, p in served.probabilities.items()),
        )

    def encode(self, rows: Sequence[Upload]) -> Encoded:
        return {"image": ((len(rows), 1), [r.data for r in rows])}

    def decode(self, outputs: Outputs, rows: Sequence[Upload]) -> list[Damage]:
        types, severities = outputs["type_probabilities"], outputs["severity_probabilities"]
        k, s = len(self.damage_types), len(self.severities)
        return [
            Damage(
                outputs["damage_type"][i],
                outputs["severity"][i],
                dict(zip(self.damage_types, types[i * k : (i + 1) * k], strict=True)),
                dict(zip(self.severities, severities[i * s : (i + 1) * s], strict=True)),
            )
            for i in range(len(rows))
        ]

    def drift_inputs(self, row: Upload) -> dict[str, object]:
        return {}  # a photo has no field to compare; its answer does

    def drift_outputs(self, result: Damage) -> dict[str, object]:
        return {"damage_type": result.damage_type, "severity": result.severity}

    def refused(self, error: InvalidArgument, rows: Sequence[Upload]) -> InvalidArgument:
        return name_image_field(error, rows)


def examples(n: int, seed: int) -> list[dict[str, Any]]:
    import base64

    from finfer.models.damage.training.panels import panels

    return [{"image_base64": base64.b64encode(p.image).decode()} for p in panels(n, seed=seed)]


def photo_from_proto(request: finfer_pb2.ImageRequest) -> Upload:
    if request.HasField("kind"):  # ImageRequest's kind is a document page's
        raise InvalidArgument("kind: a vehicle photo takes no kind", "kind")
    return Upload(request.image, "image")


PIPELINE = Pipeline(
    name="damage",
    triton_model="vehicle_damage",
    inputs=(Tensor("image", "BYTES"),),
    outputs=(
        Tensor("damage_type", "BYTES"),
        Tensor("severity", "BYTES"),
        Tensor("type_probabilities", "FP32"),
        Tensor("severity_probabilities", "FP32"),
    ),
    family="damage",
    exporter="finfer.exporters.damage:DamageExporter",
    meta="damage_labels/1/meta.json",
    codec=DamageCodec,
    result=Damage,
    http_path="/v1/vehicles/damage",
    grpc_service="VehicleDamage",
    grpc_method="Assess",
    summary="Damage type (none, scratch, dent, crack) and severity of a JPEG/PNG photo of a car panel.",
    from_proto=photo_from_proto,
    to_proto=lambda answer: finfer_pb2.DamageResponse(**asdict(answer.result), **answer.envelope()),
    examples=examples,
    proto_body=lambda body: {"image": body["image_base64"]},
    body="image",
    build_time=BuildTime(full=100, small=10),
    tag="images",
    coalesced=True,
    # A photo is a few ms of CPU, and concurrent ones leave in one call: the bound only stops a flood.
    admission=AdmissionBound(in_flight=16, queue=32),
)

"""document_ocr and vehicle_damage through the real front and Triton: answers, both upload forms,
gRPC, and bad images (each a 4xx naming the field; the server keeps serving)."""

from __future__ import annotations

import base64
import io
import json
import random
from concurrent.futures import ThreadPoolExecutor

import grpc
import httpx
import numpy as np
import pytest
from PIL import Image

from finfer.exporters.ocr import CANDIDATES
from finfer.models.damage.classify import DAMAGE_TYPES, SEVERITIES, classifier_input
from finfer.models.damage.training.panels import panels
from finfer.models.documents.kinds import BY_NAME
from finfer.models.documents.training.pages import render
from finfer.models.images.pixels import decode_image
from finfer.models.ocr import pipeline as ocr
from finfer.models.ocr.fields import normalise
from finfer.models.ocr.training.documents import documents
from finfer.models.ocr.training.evaluation import match_line
from finfer.runtime.onnx_session import session_for
from finfer.wire import finfer_pb2, finfer_pb2_grpc

DOCUMENTS = list(documents(3, 31))  # a contract, a licence, a VIN plate
# The loan file's three pages as the catalogue names them (the licence is a vehicle licence, 行驶证).
RECOGNISED = {"contract": "contract", "licence": "vehicle_licence", "vin_plate": "vin_plate"}
RENAMED = {("vehicle_licence", "date"): "registration_date"}
PANELS = list(panels(8, 41))


def upload(front, route: str, image: bytes, as_json: bool = False) -> httpx.Response:
    url = f"{front.http_url}{route}"
    if as_json:
        return httpx.post(url, json={"image_base64": base64.b64encode(image).decode()}, timeout=30)
    return httpx.post(url, files={"file": ("page.jpg", image, "image/jpeg")}, timeout=30)


def png(image: Image.Image, kind: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=kind)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def served_ocr(repository) -> ocr.OcrModels:
    meta = json.loads((repository / "ocr_read" / "1" / "meta.json").read_text(encoding="utf-8"))
    return next(c for c in CANDIDATES if meta["model_version"].startswith(f"ocr-{c.name}-")).models()


def test_document_lines_and_fields(front):
    for document in DOCUMENTS:
        response = upload(front, "/v1/documents/ocr", document.image)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["model_version"].startswith("ocr-") and answer["request_id"]
        assert len(answer["lines"]) == len(document.lines)
        lines = [ocr.Line(x["text"], x["confidence"], tuple(map(tuple, x["box"]))) for x in answer["lines"]]
        for truth in document.lines:
            found = match_line(truth.box, lines)  # the box lands on the true line
            assert found is not None and normalise(found.text) == normalise(truth.text)
        kind = RECOGNISED[document.kind]
        assert answer["kind"] == kind and 0.6 < answer["kind_confidence"] <= 1
        for name, value in document.fields.items():
            field = answer["fields"][RENAMED.get((kind, name), name)]
            assert field["value"] == value and field["valid"] is True
            assert 0 < field["confidence"] <= 1 and len(field["box"]) == 4
        assert set(answer["fields"]) <= {f.name for f in BY_NAME[kind].fields}


def test_self_proof_pages_of_several_kinds_are_classified_and_read(front):
    """Held-out layouts of kinds the loan file did not have: the kind, and every field as printed,
    with an identifier printed with a wrong check character flagged."""
    rng = random.Random(12)
    for name in ("pay_slip", "bank_statement", "business_licence", "purchase_invoice", "id_card_back"):
        page = render(BY_NAME[name], rng, held_out=True)
        answer = upload(front, "/v1/documents/ocr", page.image).json()
        assert answer["kind"] == name, answer
        read = {field: (got["value"], got["valid"]) for field, got in answer["fields"].items()}
        assert read == {field: (p.value, p.valid) for field, p in page.fields.items()}


def test_the_served_pipeline_reads_like_the_plain_functions(front, served_ocr):
    for document in DOCUMENTS:
        answer = upload(front, "/v1/documents/ocr", document.image).json()
        expected = ocr.read_document(served_ocr, document.image)
        assert [x["text"] for x in answer["lines"]] == [line.text for line in expected]
        for got, want in zip(answer["lines"], expected, strict=True):
            assert got["confidence"] == pytest.approx(want.confidence, abs=1e-3)
            np.testing.assert_allclose(got["box"], want.box, atol=0.2)


def test_base64_json_reads_like_multipart(front):
    document = DOCUMENTS[1]
    multipart = upload(front, "/v1/documents/ocr", document.image).json()
    as_json = upload(front, "/v1/documents/ocr", document.image, as_json=True).json()
    assert as_json["lines"] == multipart["lines"] and as_json["fields"] == multipart["fields"]


def test_a_page_without_text_is_an_empty_answer(front):
    response = upload(front, "/v1/documents/ocr", png(Image.new("RGB", (640, 480), (230, 230, 230))))
    assert response.status_code == 200
    answer = response.json()
    assert answer["lines"] == [] and answer["fields"] == {} and answer["kind"] == "unknown"


def test_damage_answers_match_the_onnx_model(front, repository):
    session = session_for(repository / "damage_classifier" / "1" / "model.onnx")
    for panel in PANELS:
        response = upload(front, "/v1/vehicles/damage", panel.image)
        assert response.status_code == 200, response.text
        answer = response.json()
        pixels = classifier_input(decode_image(panel.image))[None]
        types, severities = session.run(None, {"pixels": pixels})
        assert list(answer["probabilities"]) == list(DAMAGE_TYPES)
        assert list(answer["severity_probabilities"]) == list(SEVERITIES)
        np.testing.assert_allclose(list(answer["probabilities"].values()), types[0], atol=1e-5)
        assert answer["damage_type"] == DAMAGE_TYPES[int(types[0].argmax())]
        assert answer["severity"] == SEVERITIES[int(severities[0].argmax())]
        assert answer["model_version"].startswith("damage-")


BAD_IMAGES = {
    "empty": (b"", "empty"),
    "text file": (b"name,amount\nzhang,100\n", "not an image"),
    "truncated": (DOCUMENTS[0].image[:20_000], "truncated"),
    "gif": (png(Image.new("RGB", (8, 8)), "GIF"), "not supported"),
    "too many pixels": (png(Image.new("L", (4100, 4100))), "the limit is"),
}


@pytest.mark.parametrize("route", ["/v1/documents/ocr", "/v1/vehicles/damage"])
@pytest.mark.parametrize("case", sorted(BAD_IMAGES))
def test_bad_images_are_400s_naming_the_field(front, route, case):
    data, message = BAD_IMAGES[case]
    for as_json, field in ((False, "file"), (True, "image_base64")):
        response = upload(front, route, data, as_json=as_json)
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["field"] == field and message in error["message"] and error["message"].startswith(field)
    assert upload(front, route, DOCUMENTS[2].image).status_code == 200  # still serving


def test_a_corrupt_body_is_refused_by_the_pipeline(front):
    corrupt = bytearray(DOCUMENTS[2].image)
    corrupt[600:-2] = bytes(len(corrupt) - 602)
    for route in ("/v1/documents/ocr", "/v1/vehicles/damage"):
        response = upload(front, route, bytes(corrupt))
        assert response.status_code == 400 and response.json()["error"]["field"] == "file", response.text
        assert "corrupt" in response.json()["error"]["message"]


def test_a_corrupt_photo_among_concurrent_ones_fails_alone(front):
    """The front merges concurrent photos into one Triton call; the model refuses the merged call for the
    corrupt one, and the front sends them again a photo at a time (front/coalescer.py)."""
    corrupt = bytearray(PANELS[0].image)
    corrupt[600:-2] = bytes(len(corrupt) - 602)
    bodies = [p.image for p in PANELS] + [bytes(corrupt)] * 2
    for _ in range(3):
        with ThreadPoolExecutor(len(bodies)) as pool:
            responses = list(pool.map(lambda body: upload(front, "/v1/vehicles/damage", body), bodies))
        assert [r.status_code for r in responses] == [200] * len(PANELS) + [400, 400], [r.text for r in responses]
        for panel, response in zip(PANELS, responses, strict=False):
            assert (
                response.json()["damage_type"]
                == upload(front, "/v1/vehicles/damage", panel.image).json()["damage_type"]
            )


def test_bad_requests(front):
    url = f"{front.http_url}/v1/documents/ocr"
    cases = [
        (httpx.post(url, content=b"raw", headers={"content-type": "image/jpeg"}), 415, None),
        (httpx.post(url, files={"picture": ("a.jpg", b"x")}), 400, "picture"),  # not a known field
        (httpx.post(url, json={"image_base64": "not base64!"}), 400, "image_base64"),
        (httpx.post(url, json={"image_base64": "aGk=", "extra": 1}), 400, "extra"),
        (httpx.post(url, json={"image": "aGk="}), 400, "image"),
        (httpx.post(url, json=["aGk="]), 400, None),
    ]
    for response, status, field in cases:
        assert response.status_code == status, response.text
        assert response.json()["error"]["field"] == field


def test_an_upload_over_the_byte_limit_is_413(front, settings):
    big = b"\xff\xd8" + bytes(settings.max_image_bytes + 10)
    response = httpx.post(f"{front.http_url}/v1/vehicles/damage", files={"file": ("big.jpg", big)}, timeout=30)
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"


def test_grpc_mirrors_http(front):
    with grpc.insecure_channel(front.grpc_target, options=[("grpc.max_send_message_length", 1 << 24)]) as channel:
        documents_stub = finfer_pb2_grpc.DocumentOcrStub(channel)
        damage_stub = finfer_pb2_grpc.VehicleDamageStub(channel)
        document = DOCUMENTS[0]
        answer = documents_stub.Read(finfer_pb2.ImageRequest(image=document.image), timeout=30)
        http = upload(front, "/v1/documents/ocr", document.image).json()
        assert [line.text for line in answer.lines] == [line["text"] for line in http["lines"]]
        assert answer.kind == "contract" and answer.kind_confidence == pytest.approx(http["kind_confidence"])
        assert answer.fields["vin"].value == document.fields["vin"] and answer.fields["vin"].valid
        assert "plate" not in answer.fields  # gRPC leaves out the fields not found
        damage = damage_stub.Assess(finfer_pb2.ImageRequest(image=PANELS[1].image), timeout=30)
        http_damage = upload(front, "/v1/vehicles/damage", PANELS[1].image).json()
        assert damage.damage_type == http_damage["damage_type"] and damage.severity == http_damage["severity"]
        assert dict(damage.probabilities) == pytest.approx(http_damage["probabilities"], abs=1e-6)
        for call in (documents_stub.Read, damage_stub.Assess):
            with pytest.raises(grpc.RpcError) as error:
                call(finfer_pb2.ImageRequest(image=b"not an image"), timeout=30)
            assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert dict(error.value.trailing_metadata())["finfer-error-field"] == "image"


def test_a_kind_sent_with_a_page_is_checked_against_the_one_recognised(front):
    """A mismatch is a finding in the answer, not an error; a kind outside the catalogue is a 400 naming it."""
    page = DOCUMENTS[0].image  # a contract
    url = f"{front.http_url}/v1/documents/ocr"
    agreed = httpx.post(url, json={"image_base64": base64.b64encode(page).decode(), "kind": "contract"}, timeout=30)
    assert agreed.status_code == 200 and agreed.json()["findings"] == [] and agreed.json()["sent_kind"] == "contract"
    sent_as = httpx.post(url, files={"file": ("p.jpg", page, "image/jpeg")}, data={"kind": "pay_slip"}, timeout=30)
    answer = sent_as.json()
    assert sent_as.status_code == 200 and answer["kind"] == "contract" and answer["sent_kind"] == "pay_slip"
    assert [f["code"] for f in answer["findings"]] == ["KIND_MISMATCH"] and answer["fields"]
    bad = httpx.post(url, json={"image_base64": base64.b64encode(page).decode(), "kind": "passport"}, timeout=30)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "kind"
    photo = httpx.post(
        f"{front.http_url}/v1/vehicles/damage",
        json={"image_base64": base64.b64encode(PANELS[0].image).decode(), "kind": "contract"},
        timeout=30,
    )
    assert photo.status_code == 400 and photo.json()["error"]["field"] == "kind"
    with grpc.insecure_channel(front.grpc_target, options=[("grpc.max_send_message_length", 1 << 24)]) as channel:
        read = finfer_pb2_grpc.DocumentOcrStub(channel).Read(finfer_pb2.ImageRequest(image=page, kind="pay_slip"))
        assert read.sent_kind == "pay_slip" and [f.code for f in read.findings] == ["KIND_MISMATCH"]
        with pytest.raises(grpc.RpcError) as error:
            finfer_pb2_grpc.VehicleDamageStub(channel).Assess(finfer_pb2.ImageRequest(image=page, kind="contract"))
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT

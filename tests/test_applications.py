"""Loan applications through the real front and Triton: decisions, cross-checks on rendered documents,
branches that are skipped, idempotent persistence, and every kind of bad input (late and down branches, and
bad policies: test_application_faults.py)."""

from __future__ import annotations

import base64
import itertools
import random

import cv2
import grpc
import pytest

from finfer.application.examples import applications
from finfer.clients import GrpcClient, HttpClient, InvalidRequest, application_body
from finfer.models.damage.classify import DAMAGE_TYPES
from finfer.models.damage.training.panels import render as render_panel
from finfer.models.documents.kinds import BY_NAME
from finfer.models.documents.training.pages import render
from finfer.models.ocr.training.documents import random_id_number, random_plate, random_vin
from finfer.pipelines.application import PIPELINE
from tests.conftest import wait_until

from .helpers import post

_ids = itertools.count()


def fresh(shape: str = "plain", **extra) -> dict:
    """An application no other test has sent (its own id, so persisting it touches nothing else)."""
    n = next(_ids)
    (body,) = applications(1, seed=500 + n, shape=shape)
    body["application_id"] = f"test-app-{n}"
    return {**body, **extra}


def unique_device(body: dict, persist: bool) -> str:
    device = f"device-{body['application_id']}"
    body["fraud"] = {**body["fraud"], "links": {"device": [device], "phone": [], "ip": []}, "persist": persist}
    return device


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def page(kind: str, seed: int, **given: str) -> bytes:
    """A photographed page of `kind` printing the `given` values of its fields (the others random)."""
    return render(BY_NAME[kind], random.Random(seed), given=given).image


def panel(damage: str, severity: int, seed: int) -> bytes:
    image = render_panel(random.Random(seed), DAMAGE_TYPES.index(damage), severity, 160)
    return cv2.imencode(".jpg", image)[1].tobytes()


@pytest.fixture(scope="module")
def clients(front):
    with HttpClient(front.http_url, timeout_s=60) as http, GrpcClient(front.grpc_target, timeout_s=60) as grpc_:
        yield http, grpc_


def codes(decision, source: str | None = None) -> list[str]:
    return [r.code for r in decision.reasons if source is None or r.source == source]


def test_http_and_grpc_give_the_same_decision(clients):
    http, grpc_ = clients
    body = fresh()
    over_http, over_grpc = http.evaluate_application(body), grpc_.evaluate_application(body)
    assert over_http.decision in ("approve", "review", "decline")
    assert (over_grpc.decision, over_grpc.reasons) == (over_http.decision, over_http.reasons)
    assert (
        over_grpc.branches
        == over_http.branches
        == {
            "risk": "ok",
            "fraud": "ok",
            "documents": "skipped",
            "damage": "skipped",
            "intent": "ok",
        }
    )
    assert over_grpc.risk.probability_of_default == pytest.approx(over_http.risk.probability_of_default, abs=1e-7)
    assert over_grpc.fraud.fraud_probability == pytest.approx(over_http.fraud.fraud_probability, abs=1e-7)
    assert over_grpc.intent == over_http.intent and over_grpc.fraud.evidence == over_http.fraud.evidence
    assert over_http.degraded is False and set(over_http.branch_ms) == {"risk", "fraud", "intent"}
    assert set(over_http.model_versions) == {"risk", "fraud", "intent"}
    assert over_http.model_versions["risk"].startswith("risk-")
    assert over_http.policy_version == over_http.model_version == "2026.11-default"
    assert over_http.request_id != over_grpc.request_id


def test_the_decision_follows_the_risk_band(clients):
    """The risk branch's own answer decides the band: review or decline reasons name it, with its reason codes."""
    http, _ = clients
    decision = http.evaluate_application(fresh())
    pd = decision.risk.probability_of_default
    band = "RISK_DECLINE" if pd >= 0.55 or decision.risk.grade == "E" else None
    band = band or ("RISK_REVIEW" if pd >= 0.20 or decision.risk.grade == "D" else None)
    risk_codes = codes(decision, "risk")
    if band is None:
        assert risk_codes == []
    else:
        assert risk_codes == [band] + [f"RISK_{r.feature.upper()}" for r in decision.risk.reasons]
        assert decision.decision != "approve"


def test_branches_without_inputs_are_skipped_and_a_required_one_is_a_reason(clients):
    http, _ = clients
    body = fresh()
    bare = {"application_id": body["application_id"], "applicant": body["applicant"]}
    decision = http.evaluate_application(bare)
    assert decision.branches == {
        "risk": "ok",
        "fraud": "skipped",
        "documents": "skipped",
        "damage": "skipped",
        "intent": "skipped",
    }
    assert decision.fraud is None and decision.intent is None and decision.documents == [] == decision.damage
    assert "BRANCH_MISSING" in codes(decision, "fraud") and decision.decision != "approve"
    assert decision.degraded is False and list(decision.model_versions) == ["risk"]


def _documents(seed: int, id_number: str, vin: str, plate: str, amount: int) -> list[tuple[str, bytes]]:
    given = {"id_number": id_number, "vin": vin, "plate": plate, "amount": str(amount)}
    return [
        ("id_card", page("id_card_front", seed, **given)),
        ("vehicle_licence", page("vehicle_licence", seed + 1, **given)),
        ("contract", page("contract", seed + 2, **given)),
    ]


def read_in_time(evaluate, body):
    """The decision once the documents branch read every page within its deadline: three pages take most of
    the 2 s deadline on two cores shared with the suite, and a busy moment tips them over (this test failed so
    at random, before pipelines were fused too). The same application is sent again, within a bounded wait."""
    decision = None

    def read() -> bool:
        nonlocal decision
        decision = evaluate(body)
        return decision.branches["documents"] == "ok"

    wait_until(read, 60, "the documents branch within its deadline")
    return decision


def test_cross_checks_stay_silent_on_documents_that_agree_and_fire_on_ones_that_contradict(clients):
    http, grpc_ = clients
    rng = random.Random(31)
    declared = {
        "id_number": random_id_number(rng),
        "vin": random_vin(rng),
        "plate": random_plate(rng),
        "amount": 180_000.0,
    }
    base = fresh()
    agreeing = application_body(
        base["application_id"],
        base["applicant"],
        declared=declared,
        documents=_documents(40, declared["id_number"], declared["vin"], declared["plate"], 180_000),
    )
    decision = read_in_time(http.evaluate_application, agreeing)
    assert decision.branches["documents"] == "ok" and len(decision.documents) == 3
    read = decision.documents
    assert [d.kind for d in read] == ["id_card_front", "vehicle_licence", "contract"]
    assert read[0].fields["id_number"].value == declared["id_number"] and read[0].fields["id_number"].valid
    assert read[1].fields["vin"].value == declared["vin"] and read[2].fields["amount"].value == "180000.00"
    assert codes(decision, "documents") == []

    other = _documents(50, random_id_number(rng), random_vin(rng), random_plate(rng), 240_000)
    contradicting = {**agreeing, "application_id": fresh()["application_id"]}
    contradicting["documents"] = [{"kind": kind, "image_base64": b64(data)} for kind, data in other]
    decision = read_in_time(grpc_.evaluate_application, contradicting)
    found = codes(decision, "documents")
    # Declines first (an ID number that differs, on the ID card and on the contract), then reviews in the
    # order of the documents and of each kind's fields.
    assert found == ["ID_MISMATCH", "ID_MISMATCH", "PLATE_MISMATCH", "VIN_MISMATCH", "AMOUNT_MISMATCH", "VIN_MISMATCH"]
    assert decision.decision == "decline"  # an ID number that differs declines by the default policy
    assert all(declared["id_number"] not in r.text and declared["vin"] not in r.text for r in decision.reasons)


def test_a_vin_plate_that_fails_its_check_digit_is_a_reason(clients):
    http, _ = clients
    rng = random.Random(7)
    vin = random_vin(rng)
    wrong = vin[:8] + ("X" if vin[8] != "X" else "0") + vin[9:]
    body = fresh(documents=[{"kind": "vin_plate", "image_base64": b64(page("vin_plate", 61, vin=wrong))}])
    decision = http.evaluate_application(body)
    assert decision.documents[0].fields["vin"].valid is False
    assert codes(decision, "documents") == ["CHECKSUM_INVALID"]


def test_damage_and_message_findings_follow_what_the_branches_read(clients):
    """By the default policy: SEVERE_DAMAGE for each photo read as severe, and the message's slots against
    the declaration (the strict-policy test below makes both fire whatever the small models read)."""
    http, _ = clients
    photos = [panel("dent", 3, 1), panel("none", 0, 2)]
    declared = {"amount": 50_000.0, "term_months": 12}
    body = fresh(vehicle_photos=[{"image_base64": b64(p)} for p in photos], message="我想借二十万，分三年还")
    decision = http.evaluate_application({**body, "declared": declared})
    assert decision.branches["damage"] == "ok" and len(decision.damage) == 2
    severe = [f"vehicle_photos[{i}]" for i, d in enumerate(decision.damage) if d.severity == "severe"]
    assert [r.text.split(":")[0] for r in decision.reasons if r.code == "SEVERE_DAMAGE"] == severe
    slots = decision.intent.slots
    expected = []
    if slots.amount is not None and abs(slots.amount - 50_000) > 0.3 * 50_000:
        expected.append("MESSAGE_AMOUNT_MISMATCH")
    if slots.term_months is not None and slots.term_months != 12:
        expected.append("MESSAGE_TERM_MISMATCH")
    assert [c for c in codes(decision, "intent") if c.startswith("MESSAGE_")] == expected


def _shared_devices(front, device: str) -> int:
    """How many applications in the graph hold `device`, seen from a new application that links to it."""
    probe = {
        "application_id": f"probe-{device}",
        "features": fresh()["fraud"]["features"],
        "links": {"device": [device]},
    }
    status, answer = post(f"{front.http_url}/v1/fraud/score", probe)
    assert status == 200, answer
    return answer["evidence"]["shared"]["device"][0]


def test_persist_is_idempotent_per_application_id(clients, front):
    http, _ = clients
    body = fresh()
    device = unique_device(body, persist=True)
    first, again = http.evaluate_application(body), http.evaluate_application(body)
    assert first.fraud.persisted and again.fraud.persisted
    assert _shared_devices(front, device) == 1


def test_an_application_refused_for_bad_input_inserts_nothing(front):
    body = fresh()
    device = unique_device(body, persist=True)
    body["documents"] = [{"kind": "passport", "image_base64": b64(page("contract", 3))}]
    status, answer = post(f"{front.http_url}{PIPELINE.http_path}", body)
    assert status == 400 and answer["error"]["field"] == "documents[0].kind"
    assert _shared_devices(front, device) == 0


def _bad(mutate) -> dict:
    body = fresh()
    mutate(body)
    return body


JPEG = page("contract", 9)
BAD_INPUT = [
    (lambda b: b.pop("applicant"), "applicant", "is required"),
    (lambda b: b.update(colour="red"), "colour", "is not a known field"),
    (lambda b: b.update(application_id="has space"), "application_id", "must be 1 to 64"),
    (lambda b: b["applicant"].update(duration_in_month="long"), "applicant.duration_in_month", "valid number"),
    (lambda b: b["fraud"]["links"].update(phone=["12-34"]), "fraud.links.phone[0]", "6 to 20 digits"),
    (lambda b: b.update(declared={"id_number": "12345"}), "declared.id_number", "should match pattern"),
    (lambda b: b.update(declared={"vin": "LOO" + "1" * 14}), "declared.vin", "should match pattern"),
    (lambda b: b.update(declared={"amount": -5.0}), "declared.amount", "greater than 0"),
    (lambda b: b.update(documents=[{"kind": "contract", "image_base64": b64(JPEG)}] * 9), "documents", "at most 8"),
    (lambda b: b.update(documents=[{"kind": "selfie", "image_base64": b64(JPEG)}]), "documents[0].kind", "one of"),
    (
        lambda b: b.update(documents=[{"kind": "contract", "image_base64": b64(JPEG)}, {"kind": "contract"}]),
        "documents[1].image_base64",
        "is required",
    ),
    (
        lambda b: b.update(documents=[{"kind": "contract", "image_base64": b64(b"not an image")}]),
        "documents[0].image_base64",
        "not an image",
    ),
    (
        lambda b: b.update(vehicle_photos=[{"image_base64": b64(JPEG[: len(JPEG) // 2])}]),
        "vehicle_photos[0].image_base64",
        "truncated",
    ),
    (lambda b: b.update(vehicle_photos=[{"image_base64": "%%%"}]), "vehicle_photos[0].image_base64", "base64"),
    (lambda b: b.update(vehicle_photos=[{"image_base64": b64(JPEG)}] * 5), "vehicle_photos", "at most 4"),
    (lambda b: b.update(message="   "), "message", "must not be empty"),
    (lambda b: b.update(message="贷" * 1000), "message", "at most"),
]


@pytest.mark.parametrize(("mutate", "field", "words"), BAD_INPUT, ids=[f for _, f, _ in BAD_INPUT])
def test_bad_input_is_a_400_naming_the_field(front, mutate, field, words):
    status, answer = post(f"{front.http_url}{PIPELINE.http_path}", _bad(mutate))
    assert status == 400, answer
    assert answer["error"]["field"] == field and words in answer["error"]["message"], answer


def test_an_oversized_application_is_a_413(front):
    photo = {"image_base64": "A" * (3 * 1024 * 1024)}  # over the suite's 2 MiB max_application_bytes
    status, answer = post(f"{front.http_url}{PIPELINE.http_path}", fresh(vehicle_photos=[photo]))
    assert status == 413 and answer["error"]["code"] == "payload_too_large"


def test_bad_input_over_grpc_is_invalid_argument_naming_the_field(clients):
    _, grpc_ = clients
    body = fresh(documents=[{"kind": "passport", "image_base64": b64(JPEG)}])
    with pytest.raises(InvalidRequest) as caught:
        grpc_.evaluate_application(body)
    assert caught.value.field == "documents[0].kind" and "one of" in caught.value.message
    body = fresh(documents=[{"kind": "contract", "image_base64": b64(b"junk")}])
    with pytest.raises(InvalidRequest) as caught:
        grpc_.evaluate_application(body)
    assert caught.value.field == "documents[0].image"  # gRPC's own field name for the bytes


def test_grpc_status_of_a_whole_application_path_is_ok(front):
    """The service is registered under the declared name (what grpcurl and other clients call)."""
    channel = grpc.insecure_channel(front.grpc_target)
    from finfer.wire import finfer_pb2

    call = channel.unary_unary(
        "/finfer.v1.LoanApplications/Evaluate",
        request_serializer=finfer_pb2.LoanApplicationRequest.SerializeToString,
        response_deserializer=finfer_pb2.LoanApplicationResponse.FromString,
    )
    body = fresh()
    request = finfer_pb2.LoanApplicationRequest(application_id=body["application_id"], message="我想申请车贷")
    request.applicant.update(body["applicant"])
    answer = call(request, timeout=30)
    assert answer.branches["intent"] == "ok" and answer.intent.intent and answer.risk.grade
    channel.close()

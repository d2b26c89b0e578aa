"""Decisions on record through the live front (auth off on loopback, SQLite): every application is recorded
and read back over HTTP and gRPC, the review queue over HTTP, the chain checked by `finfer audit verify`, and
no personal identifier in clear anywhere the front writes."""

from __future__ import annotations

import copy
import subprocess
import sys
from typing import Any

import grpc
import pytest

from finfer.application.examples import applications
from finfer.loadtest import stack
from finfer.settings import Settings
from finfer.wire import finfer_pb2, finfer_pb2_grpc
from tests.conftest import Front
from tests.helpers import call, post

DECLARED = {"id_number": "11010519491231002X", "vin": "LSVAU2180N2183294", "plate": "沪AB12345"}


def personal_values(bodies: list[dict[str, Any]]) -> set[str]:
    """Every identifier and message the test's applications carried."""
    values = set(DECLARED.values())
    for body in bodies:
        for links in body["fraud"]["links"].values():
            values.update(links)
        if body.get("message"):
            values.add(body["message"])
    return values


@pytest.fixture(scope="module")
def decided(front: Front) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(request, answer) of 40 applications, every one declaring the same identifiers; a few with pages."""
    bodies = applications(36, seed=7100, shape="plain") + applications(4, seed=7101, shape="images")
    out = []
    for body in bodies:
        body = copy.deepcopy(body)
        body["declared"] = {**body["declared"], **DECLARED}
        status, answer = post(f"{front.http_url}/v1/applications", body)
        assert status == 200, answer
        out.append((body, answer))
    return out


def test_every_application_decision_is_recorded(front: Front, decided) -> None:
    for body, answer in decided:
        status, record, _ = call(f"{front.http_url}/v1/applications/{body['application_id']}")
        assert status == 200, record
        kept = record["decision"]
        assert kept["decision"] == answer["decision"] == (record["final_decision"] if not record["case"] else "review")
        assert kept["request_id"] == answer["request_id"]
        assert kept["reasons"] == answer["reasons"] and kept["branches"] == answer["branches"]
        assert kept["model_versions"] == answer["model_versions"]
        assert kept["policy_version"] == answer["policy_version"]
        assert kept["results"]["risk"] == answer["risk"]
        assert kept["credit_file"] == {k: kept["credit_file"][k] for k in body["applicant"]}
        assert all(float(kept["credit_file"][k]) == v for k, v in body["applicant"].items() if isinstance(v, float))
        assert len(kept["declared"]["id_number"]) == 64 and kept["declared"]["id_number"] != DECLARED["id_number"]
        assert (answer["decision"] == "review") == (record["case"] is not None)
        assert record["trail"][0]["kind"] == "decision"
    with_pages = [kept for body, _ in decided if body.get("documents") for kept in [_record(front, body)]]
    assert with_pages and all(kept["results"]["documents"] for kept in with_pages)


def _record(front: Front, body: dict[str, Any]) -> dict[str, Any]:
    return call(f"{front.http_url}/v1/applications/{body['application_id']}")[1]["decision"]


def test_records_over_grpc(front: Front, decided) -> None:
    body, answer = decided[0]
    with grpc.insecure_channel(front.grpc_target) as channel:
        records = finfer_pb2_grpc.RecordsStub(channel)
        found = records.GetApplication(finfer_pb2.GetApplicationRequest(application_id=body["application_id"]))
        assert found.decision["decision"] == answer["decision"]
        assert found.decision["request_id"] == answer["request_id"]
        assert [step.kind for step in found.trail][0] == "decision"
        with pytest.raises(grpc.RpcError) as missing:
            records.GetApplication(finfer_pb2.GetApplicationRequest(application_id="never-sent"))
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as bad:
            records.GetApplication(finfer_pb2.GetApplicationRequest(application_id="no spaces"))
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "application_id" in bad.value.details()


def test_the_review_queue_over_http(front: Front, decided) -> None:
    url = front.http_url
    reviewed = {body["application_id"] for body, answer in decided if answer["decision"] == "review"}
    assert len(reviewed) >= 2, "the test's applications must reach the review band"
    status, page, _ = call(f"{url}/v1/reviews?page_size=100")
    assert status == 200 and reviewed <= {c["application_id"] for c in page["cases"]}
    opened = [c["opened_at"] for c in page["cases"]]
    assert opened == sorted(opened)
    case = next(c for c in page["cases"] if c["application_id"] in reviewed)
    code = case["reasons"][0]
    status, filtered, _ = call(f"{url}/v1/reviews?reason={code}&page_size=100")
    assert status == 200 and all(code in c["reasons"] for c in filtered["cases"])

    case_url = f"{url}/v1/reviews/{case['case_id']}"
    status, detail, _ = call(case_url)
    assert status == 200 and detail["decision"]["application_id"] == case["application_id"]
    assert post(f"{case_url}/resolve", {"outcome": "approve"})[0] == 409  # not claimed
    status, claimed = post(f"{case_url}/claim", {})
    assert status == 200 and claimed["claimed_by"] == "local"
    status, error = post(f"{case_url}/resolve", {"outcome": "maybe"})
    assert status == 400 and "outcome" in error["error"]["field"]
    status, resolved = post(f"{case_url}/resolve", {"outcome": "approve", "note": "documents checked"})
    assert status == 200 and resolved["outcome"] == "approve" and resolved["resolved_by"] == "local"
    status, again = post(f"{case_url}/resolve", {"outcome": "decline"})
    assert status == 409 and again["error"]["code"] == "conflict" and again["error"]["field"] == "case_id"
    status, record, _ = call(f"{url}/v1/applications/{case['application_id']}")
    assert record["final_decision"] == "approve"
    assert [s["kind"] for s in record["trail"]][-2:] == ["claim", "review"]

    assert call(f"{url}/v1/reviews/999999")[0] == 404
    status, error, _ = call(f"{url}/v1/reviews?page=0")
    assert status == 400 and "page" in error["error"]["field"]
    status, error, _ = call(f"{url}/v1/applications/no%20spaces")
    assert status == 400 and "application_id" in error["error"]["field"]


def test_finfer_audit_verify_walks_the_live_chain(front: Front, decided, settings: Settings) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "finfer.cli", "audit", "verify"],
        env=stack.environment(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "audit chain intact" in done.stdout


def test_no_personal_identifier_in_clear(front: Front, decided, settings: Settings) -> None:
    """Scan the bytes of everything the front and Triton wrote: the database (and its WAL), the spool, the logs."""
    secrets = [value.encode() for value in personal_values([body for body, _ in decided])]
    files = [p for p in settings.state_dir.rglob("*") if p.is_file() and p.suffix != ".key"]
    files.append(front.log)
    written = {p: p.read_bytes() for p in files}
    assert any(p.name.startswith("finfer.db") for p in written), sorted(written)
    leaks = [(p.name, s.decode()) for p, data in written.items() for s in secrets if s in data]
    assert leaks == []

"""The front over HTTP against the real Triton: answers, cache, bad input, health, docs."""

import httpx
import pytest

from tests.helpers import fresh_applicant, load_applicants, metric, model_prediction


@pytest.fixture(scope="module")
def http(front):
    with httpx.Client(base_url=front.http_url, timeout=30) as client:
        yield client


def test_score_equals_the_models_own_prediction(http, repository):
    for applicant in load_applicants()[:5]:
        response = http.post("/v1/risk/score", json=applicant)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["probability_of_default"] == pytest.approx(model_prediction(repository, applicant), abs=1e-5)
        assert body["grade"] in {"A", "B", "C", "D", "E"}
        assert body["model_version"].startswith("risk-")
        assert len(body["request_id"]) == 32
        assert all(r["contribution"] > 0 and r["feature"] in applicant for r in body["reasons"])
        assert all(r["value"] == str(applicant[r["feature"]]) for r in body["reasons"])


def test_request_id_is_echoed(http):
    response = http.post("/v1/risk/score", json=fresh_applicant(), headers={"x-request-id": "abc-123"})
    assert response.json()["request_id"] == "abc-123"


def test_batch_answers_in_order(http, repository):
    applicants = [fresh_applicant() for _ in range(7)]
    response = http.post("/v1/risk/score:batch", json={"applicants": applicants})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == 7
    for applicant, result in zip(applicants, results, strict=True):
        assert result["probability_of_default"] == pytest.approx(model_prediction(repository, applicant), abs=1e-5)


def test_repeated_request_is_served_from_the_cache(http, front, settings):
    applicant = fresh_applicant()
    triton_metrics = settings.triton_metrics_url
    before = metric(triton_metrics, "nv_inference_request_success", model="risk_score")
    first = http.post("/v1/risk/score", json=applicant).json()
    after_first = metric(triton_metrics, "nv_inference_request_success", model="risk_score")
    hits_before = metric(f"{front.http_url}/metrics", "finfer_cache_lookups_total", result="hit")
    second = http.post("/v1/risk/score", json=applicant).json()
    assert first["cached"] is False and second["cached"] is True
    assert second["probability_of_default"] == first["probability_of_default"]
    assert second["request_id"] != first["request_id"]
    assert after_first == before + 1
    assert metric(triton_metrics, "nv_inference_request_success", model="risk_score") == after_first
    assert metric(f"{front.http_url}/metrics", "finfer_cache_lookups_total", result="hit") == hits_before + 1


def _without(applicant, key):
    return {k: v for k, v in applicant.items() if k != key}


BASE = load_applicants()[0]

BAD_BODIES = [
    ("missing field", _without(BASE, "purpose"), "purpose", "is required"),
    ("unknown field", {**BASE, "favourite_colour": "blue"}, "favourite_colour", "not a known field"),
    ("string for a number", {**BASE, "duration_in_month": "12"}, "duration_in_month", "valid number"),
    ("bool for a number", {**BASE, "credit_amount": True}, "credit_amount", "valid number"),
    (
        "negative duration",
        {**BASE, "duration_in_month": -3},
        "duration_in_month",
        "greater than or equal to 0",
    ),
    ("negative amount", {**BASE, "credit_amount": -1}, "credit_amount", "greater than or equal to 0"),
    ("unknown category", {**BASE, "purpose": "yacht"}, "purpose", "'yacht'"),
    ("number for a category", {**BASE, "housing": 3}, "housing", "input should be"),
    ("null", {**BASE, "housing": None}, "housing", "input should be"),
]


@pytest.mark.parametrize(("case", "body", "field", "message"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_bad_applicant_is_a_400_naming_the_field(http, case, body, field, message):
    response = http.post("/v1/risk/score", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_argument"
    assert error["field"] == field
    assert message in error["message"]
    assert error["message"].startswith(f"{field}:")


@pytest.mark.parametrize(("literal", "expect"), [("NaN", "finite"), ("Infinity", "finite"), ("1e999", "finite")])
def test_non_finite_numbers_name_the_field(http, literal, expect):
    raw = (
        httpx.Request("POST", "/", json=BASE)
        .content.decode()
        .replace('"credit_amount":1169', f'"credit_amount":{literal}')
    )
    assert literal in raw
    response = http.post("/v1/risk/score", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "credit_amount"
    assert expect in response.json()["error"]["message"]


def test_malformed_json(http):
    response = http.post(
        "/v1/risk/score", content=b'{"duration_in_month": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


def test_wrong_content_type(http):
    response = http.post("/v1/risk/score", content=b"duration=6", headers={"content-type": "text/plain"})
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_body_over_the_size_limit(http, settings):
    response = http.post("/v1/risk/score", json={**BASE, "pad": "x" * settings.max_body_bytes})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_body_must_be_an_object(http):
    response = http.post("/v1/risk/score", json=[BASE])
    assert response.status_code == 400
    assert "must be a JSON object" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"applicants": []}, "applicants", "at least one"),
        ({"applicants": "all"}, "applicants", "must be a list"),
        ({}, "applicants", "must be a list"),
        ({"applicants": [BASE], "extra": 1}, "extra", "not a known field"),
        ({"applicants": [BASE, {**BASE, "purpose": "yacht"}]}, "applicants[1].purpose", "'yacht'"),
    ],
)
def test_bad_batches(http, body, field, message):
    response = http.post("/v1/risk/score:batch", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field
    assert message in response.json()["error"]["message"]


def test_oversized_batch(http, settings):
    response = http.post("/v1/risk/score:batch", json={"applicants": [BASE] * (settings.max_batch_rows + 1)})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "applicants"
    assert f"at most {settings.max_batch_rows}" in response.json()["error"]["message"]


def test_unknown_route_is_a_json_404(http):
    response = http.post("/v1/nothing", json={})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_server_keeps_serving_after_bad_input(http):
    for case in BAD_BODIES:
        http.post("/v1/risk/score", json=case[1])
    assert http.post("/v1/risk/score", json=fresh_applicant()).status_code == 200


def test_health_metrics_and_docs(http):
    assert http.get("/healthz").json() == {"status": "live"}
    ready = http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["model_version"].startswith("risk-")
    text = http.get("/metrics").text
    for name in (
        "finfer_requests_total",
        "finfer_request_duration_seconds_bucket",
        "finfer_cache_lookups_total",
        "finfer_upstream_duration_seconds_bucket",
        "finfer_upstream_batch_rows_bucket",
    ):
        assert name in text
    spec = http.get("/openapi.json").json()
    body = spec["paths"]["/v1/risk/score"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "purpose" in body["required"] and body["properties"]["purpose"]["enum"]
    assert http.get("/docs").status_code == 200

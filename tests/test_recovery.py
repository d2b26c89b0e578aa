"""Triton stopped mid-session: the front answers 503/UNAVAILABLE (cache hits still served), then recovers."""

import grpc
import httpx
import pytest

from finfer.clients import finfer_pb2, finfer_pb2_grpc
from finfer.clients.grpc_client import to_struct
from tests.conftest import wait_until
from tests.helpers import fresh_applicant
from tests.test_fraud_front import FEATURES_OK


def fraud_body(application_id: str, persist: bool = False) -> dict:
    links = {"device": ["restart-device"]}
    return {"application_id": application_id, "features": FEATURES_OK, "links": links, "persist": persist}


def test_triton_down_then_back(front, triton):
    cached = fresh_applicant()
    with (
        httpx.Client(base_url=front.http_url, timeout=30) as http,
        grpc.insecure_channel(front.grpc_target) as ch,
    ):
        stub = finfer_pb2_grpc.RiskScoringStub(ch)
        assert http.post("/v1/risk/score", json=cached).status_code == 200
        persisted = fraud_body("kept-across-restart", persist=True)
        assert http.post("/v1/fraud/score", json=persisted).json()["persisted"] is True
        triton.stop()
        try:
            response = http.post("/v1/risk/score", json=fresh_applicant())
            assert response.status_code == 503
            assert response.headers["retry-after"] == "1"
            assert response.json()["error"]["code"] == "unavailable"
            with pytest.raises(grpc.RpcError) as info:
                stub.Score(finfer_pb2.ScoreRequest(applicant=to_struct(fresh_applicant())), timeout=30)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
            wait_until(lambda: http.get("/readyz").status_code == 503, 10, "readyz to report not ready")
            # What the cache holds is still answered without Triton.
            hit = http.post("/v1/risk/score", json=cached)
            assert hit.status_code == 200 and hit.json()["cached"] is True
            assert http.get("/healthz").status_code == 200
        finally:
            triton.start()
            triton.wait_ready(timeout=120)
        wait_until(
            lambda: http.post("/v1/risk/score", json=fresh_applicant()).status_code == 200,
            60,
            "the front to recover",
        )
        assert http.get("/readyz").status_code == 200
        answer = stub.Score(finfer_pb2.ScoreRequest(applicant=to_struct(fresh_applicant())), timeout=30)
        assert answer.grade
        # The application persisted before the restart is still in the graph (replayed from the journal).
        probe = http.post("/v1/fraud/score", json=fraud_body("probe-after-restart")).json()
        assert probe["evidence"]["shared"]["device"] == [1]
        assert probe["evidence"]["suspicious_neighbours"] == ["kept-across-restart"]

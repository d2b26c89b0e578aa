"""The Locust file really runs against the real front (short, bounded, loopback only)."""

import argparse
import json

from finfer.loadtest.isolation import P95_BOUND, run_isolation
from finfer.loadtest.run import run_locust, summarise


def test_locust_headless_http_and_grpc(front, tmp_path):
    args = argparse.Namespace(
        host=front.http_url,
        grpc_host=front.grpc_target,
        protocol="both",
        mix="risk=4,risk:batch=1,fraud=2,intent=2,damage=1",
        users=6,
        spawn_rate=6,
        duration="10s",
        out=tmp_path,
    )
    assert run_locust(args) == 0
    rows = {row["Name"]: row for row in summarise(tmp_path / "locust_final_stats.csv")}
    assert int(rows["/v1/risk/score"]["Request Count"]) > 0
    assert int(rows["/finfer.v1.RiskScoring/Score"]["Request Count"]) > 0
    assert int(rows["/v1/fraud/score"]["Request Count"]) > 0
    assert int(rows["/finfer.v1.FraudScoring/Score"]["Request Count"]) > 0
    assert (
        int(rows["/v1/intent"]["Request Count"]) + int(rows["/finfer.v1.CustomerIntent/Classify"]["Request Count"]) > 0
    )
    assert all(row["Failure Count"] == "0" for row in rows.values())
    assert (tmp_path / "report.html").stat().st_size > 0


def test_the_isolation_scenario_reports_light_routes_alone_and_beside_heavy_traffic(front, tmp_path):
    args = argparse.Namespace(
        host=front.http_url,
        grpc_host=front.grpc_target,
        protocol="http",
        mix="",
        users=3,
        spawn_rate=3,
        duration="4s",
        light_rate=15.0,
        out=tmp_path,
    )
    assert run_isolation(args) == 0
    report = json.loads((tmp_path / "isolation.json").read_text())
    light = {row["pipeline"]: row for row in report["light"]}
    assert set(light) == set(P95_BOUND)
    for row in light.values():
        assert row["requests"] > 0 and row["failures"] == 0, row
        assert row["alone_p95_ms"] > 0 and row["beside_p95_ms"] > 0
        assert row["ratio"] == row["beside_p95_ms"] / max(row["alone_p95_ms"], 1.0)
    # The heavy users sent every heavy route, and none failed but by admission's 503.
    assert {"/v1/applications", "/v1/documents/ocr", "/v1/vehicles/damage"} <= set(report["heavy"])
    failures = (tmp_path / "heavy" / "locust_failures.csv").read_text()
    assert all("code=503" in line for line in failures.splitlines()[1:]), failures
    assert "| /v1/risk/score |" in (tmp_path / "isolation.md").read_text()


def test_the_chaos_drill_kills_the_stub_of_the_mix_s_most_frequent_pipeline():
    from finfer.loadtest import chaos

    assert chaos.stub_to_kill(chaos.DEFAULT_MIX) == "risk_score"
    assert chaos.stub_to_kill("documents=1") == "document_ocr"
    assert chaos.stub_to_kill("risk=1,intent=3") == "customer_intent"


def test_a_refusal_at_the_admission_bound_is_shed_not_a_failure_of_the_fault():
    from finfer.loadtest.chaos import Drill
    from finfer.loadtest.traffic import Outcome

    assert Outcome(0.0, "application", 503, 0.1, shed=True).answer == "application shed"
    assert Outcome(0.0, "application", 503, 0.1).answer == "application 503"
    drill = Drill("Triton replica SIGKILLed", (), answers={"application shed": 3, "risk 200": 9})
    assert drill.problems() == []
    drill.answers["application 503"] = 1
    assert drill.problems() == ["Triton replica SIGKILLed: 1 × application answered 503"]

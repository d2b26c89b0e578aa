"""The Locust file really runs against the real front (short, bounded, loopback only)."""

import argparse

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

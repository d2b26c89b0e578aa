"""`finfer capacity`: replica arithmetic on hand-made measurements, and the command on the shipped bench file."""

from __future__ import annotations

import json

import pytest

from finfer import cli, paths
from finfer.loadtest.capacity import Demand, Measured, load_measurements, peak_requests_per_s, plan

MEASURED = [
    Measured("triton", "risk_score", 1000.0, 20.0),
    Measured("triton", "customer_intent", 400.0, 15.0),
    Measured("front-miss", "risk", 2000.0, 30.0),
    Measured("front-hit", "risk", 8000.0, 5.0),
]


def test_models_sharing_triton_add_up_their_shares_of_a_replica():
    # 700 req/s of risk at 70% of 1000/s is one replica's worth; 140/s of intent at 70% of 400/s is half.
    result = plan(MEASURED, Demand(840.0, {"risk_score": 700 / 840, "customer_intent": 140 / 840}))
    shares = {line.model: line.replica_share for line in result.lines if line.tier == "triton"}
    assert shares == pytest.approx({"risk_score": 1.0, "customer_intent": 0.5})
    assert result.triton_replicas == 3  # ceil(1.5) + 1 spare
    assert result.front_replicas == 2  # 840/(0.7*2000) = 0.6 -> 1 + 1 spare
    assert result.warnings == []


def test_cache_hits_move_load_from_triton_to_the_cheap_front_path():
    cold = plan(MEASURED, Demand(7000.0, {"risk_score": 1.0}))
    warm = plan(MEASURED, Demand(7000.0, {"risk_score": 1.0}, cache_hit_ratio=0.5))
    assert cold.triton_replicas == 11  # 7000/700 = 10 + 1
    assert warm.triton_replicas == 6  # 3500/700 = 5 + 1
    hits = next(line for line in warm.lines if line.tier == "front-hit")
    assert hits.demand_per_s == pytest.approx(3500.0)
    assert hits.replica_share == pytest.approx(3500 / (0.7 * 8000))


def test_a_tiny_load_still_gets_the_minimum_for_availability():
    result = plan(MEASURED, Demand(peak_requests_per_s(100_000, 3.0), {"risk_score": 1.0}))
    assert peak_requests_per_s(100_000, 3.0) == pytest.approx(3.472, abs=1e-3)
    assert (result.triton_replicas, result.front_replicas) == (2, 2)


def test_a_measurement_over_the_p99_target_warns():
    slow = [*MEASURED[1:], Measured("triton", "risk_score", 1000.0, 350.0)]
    result = plan(slow, Demand(100.0, {"risk_score": 1.0}), p99_target_ms=200)
    assert len(result.warnings) == 1 and "risk_score: p99 350 ms" in result.warnings[0]


@pytest.mark.parametrize(
    ("demand", "kwargs", "message"),
    [
        (Demand(10.0, {"nope": 1.0}), {}, "no triton measurement for 'nope'"),
        (Demand(10.0, {"risk_score": 0.5}), {}, "mix: shares must"),
        (Demand(10.0, {"risk_score": 1.0}, cache_hit_ratio=1.0), {}, "cache_hit_ratio"),
        (Demand(10.0, {"risk_score": 1.0}), {"utilization": 0}, "utilization"),
    ],
)
def test_bad_plans_name_what_is_wrong(demand, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plan(MEASURED, demand, **kwargs)


def test_the_command_plans_from_the_committed_bench_results(capsys):
    bench = paths.LOADTEST_RESULTS / "bench.json"
    measured = load_measurements(bench)
    assert {m.tier for m in measured} == {"triton", "front-miss", "front-hit"}
    assert cli.main(["capacity", "--rps", "3000", "--cache-hit-ratio", "0.2", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    expected = plan(measured, Demand(3000.0, {"risk_score": 1.0}, 0.2))
    assert printed["triton_replicas"] == expected.triton_replicas >= 2
    assert printed["front_replicas"] == expected.front_replicas
    assert cli.main(["capacity", "--rps", "10", "--mix", "intent=1"]) == 2
    assert "no triton measurement for 'intent'" in capsys.readouterr().err

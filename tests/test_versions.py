"""Versions side by side, through a real Triton and real fronts: the sticky split, weights changed without a
restart, rollback of a failing or disagreeing candidate (and none of a healthy one), and shadow copies that
never change or delay an answer.

The repository holds the risk family three times: version 1 on the German credit data; version 2 retrained on
the same rows with a tenth of the labels flipped (it gives about half the applicants another grade); version 3
with 2% of them flipped (about a fifth), as a weekly retrain on a few new outcomes would.
"""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from finfer import paths
from finfer.exporters.base import BuildOptions, Profile, export
from finfer.exporters.risk import RiskExporter
from finfer.front.versions import bucket, choose
from finfer.loadtest import stack
from finfer.loadtest.versions_bench import relabelled
from finfer.pipelines import risk
from finfer.settings import Settings, Split
from tests.conftest import front_of, wait_until
from tests.helpers import get, metric, post, put


@pytest.fixture(scope="module")
def versioned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A Triton of its own serving risk versions 1, 2 and 3."""
    repository = tmp_path_factory.mktemp("versioned_repository")
    quiet = lambda _: None  # noqa: E731
    export(RiskExporter(), BuildOptions(out=repository, profile=Profile.SMALL), quiet)
    data = tmp_path_factory.mktemp("data")
    for version, share in ((2, 0.1), (3, 0.02)):
        retrain = relabelled(paths.GERMAN_CREDIT_CSV, data / f"relabelled-{version}.csv", share)
        export(RiskExporter(retrain), BuildOptions(out=repository, profile=Profile.SMALL, version=version), quiet)
    settings = stack.bench_settings(repository, tmp_path_factory.mktemp("versioned_state")).model_copy(
        update={"probe_interval_s": 0, "triton_exit_timeout_s": 1, "cache_salt": "versions-salt-0123"}
    )
    with stack.triton(settings):
        yield settings


def at(settings: Settings, path: str) -> str:
    return f"http://127.0.0.1:{settings.http_port}{path}"


def model_versions(settings: Settings) -> dict[int, str]:
    return {v: risk.PIPELINE.load(settings.model_repository, v).model_version for v in (1, 2, 3)}


def expected_version(settings: Settings, weights: dict[int, int], body: dict) -> int:
    codec = risk.PIPELINE.load(settings.model_repository)
    return choose(weights, bucket(codec.split_key(codec.row(body))))


def triton_model(settings: Settings, model: str, action: str) -> None:
    url = f"http://127.0.0.1:{settings.triton_http_port}/v2/repository/models/{model}/{action}"
    urllib.request.urlopen(urllib.request.Request(url, data=b"{}"), timeout=60).read()


@contextmanager
def unloaded(settings: Settings, model: str) -> Iterator[None]:
    """`model` unloaded from Triton (every call to it fails), loaded again on exit."""
    triton_model(settings, model, "unload")
    try:
        yield
    finally:
        triton_model(settings, model, "load")


def direct_score(settings: Settings, body: dict) -> float:
    """Version 1's probability of default from Triton itself (KServe v2 JSON), past every front."""
    codec = risk.PIPELINE.load(settings.model_repository)
    row = codec.row(body)
    inputs = [
        {"name": "categorical_features", "shape": [1, len(row.categorical)], "datatype": "BYTES"}
        | {"data": list(row.categorical)},
        {"name": "numeric_features", "shape": [1, len(row.numeric)], "datatype": "FP32", "data": list(row.numeric)},
    ]
    url = f"http://127.0.0.1:{settings.triton_http_port}/v2/models/risk_score/infer"
    status, answer = post(url, {"inputs": inputs})
    assert status == 200, answer
    outputs = answer["outputs"]
    return next(o["data"][0] for o in outputs if o["name"] == "probability_of_default")


def test_the_split_is_sticky_follows_its_weights_and_changes_without_a_restart(
    versioned: Settings, tmp_path: Path
) -> None:
    names = model_versions(versioned)
    assert names[1] != names[2]
    weights = {1: 70, 2: 30}
    split = {"risk": Split(weights={str(v): w for v, w in weights.items()})}
    with front_of(versioned, tmp_path, splits=split, rollback_disagreement_rate=1.0) as own:
        bodies = risk.PIPELINE.examples(300, 11)
        expected = [names[expected_version(own, weights, b)] for b in bodies]
        for _ in range(2):  # the second time from the cache: still each applicant's own version
            answers = [post(at(own, "/v1/risk/score"), b) for b in bodies]
            assert all(status == 200 for status, _ in answers)
            assert [a["model_version"] for _, a in answers] == expected
        share = expected.count(names[2]) / len(expected)
        assert 0.2 < share < 0.4, share

        status, batch = post(at(own, "/v1/risk/score:batch"), {"applicants": bodies[:20]})
        assert status == 200
        assert [r["model_version"] for r in batch["results"]] == expected[:20]
        assert batch["model_version"] == ",".join(sorted(set(expected[:20])))

        # No errors: the candidate keeps its weight.
        status, state = get(at(own, "/v1/admin/versions"))
        assert status == 200 and state["risk"]["rollbacks"] == []
        assert state["risk"]["weights"] == {"1": 70, "2": 30, "3": 0}
        assert state["risk"]["candidates"]["2"]["error_rate"] == 0
        assert metric(at(own, "/metrics"), "finfer_version_answers_total", version="2", result="ok") >= share * 600
        assert metric(at(own, "/metrics"), "finfer_version_answers_total", result="error") == 0

        for only in (2, 1):
            status, state = put(at(own, "/v1/admin/splits/risk"), {"weights": {str(only): 1}})
            assert status == 200 and state["baseline"] == only
            answers = [post(at(own, "/v1/risk/score"), b)[1]["model_version"] for b in bodies[:100]]
            assert set(answers) == {names[only]}
        assert metric(at(own, "/metrics"), "finfer_split_weight", version="2") == 0

        status, error = put(at(own, "/v1/admin/splits/risk"), {"weights": {"9": 1}})
        assert status == 400 and error["error"]["field"] == "weights"
        assert "version 9 is not built (built: 1, 2, 3)" in error["error"]["message"]
        status, error = put(at(own, "/v1/admin/splits/risk"), {"weights": {"1": 0}})
        assert status == 400 and "weight above 0" in error["error"]["message"]


def test_a_failing_candidate_is_rolled_back_and_its_requests_answered(versioned: Settings, tmp_path: Path) -> None:
    names = model_versions(versioned)
    bounds = {"rollback_window": 40, "rollback_min_answers": 20, "rollback_disagreement_rate": 1.0}
    with front_of(versioned, tmp_path, splits={"risk": Split(weights={"1": 50, "2": 50})}, **bounds) as own:
        with unloaded(versioned, "risk_score_v2"):
            answers = [post(at(own, "/v1/risk/score"), b) for b in risk.PIPELINE.examples(200, 12)]
            assert [status for status, _ in answers] == [200] * 200  # the baseline answered the candidate's rows
            assert {a["model_version"] for _, a in answers} == {names[1]}
            status, state = get(at(own, "/v1/admin/versions"))
            assert state["risk"]["weights"] == {"1": 50, "2": 0, "3": 0}
            (rollback,) = state["risk"]["rollbacks"]
            assert rollback["version"] == 2 and rollback["reason"].startswith("error rate 1.00 over its last 20")
            assert metric(at(own, "/metrics"), "finfer_rollbacks_total", pipeline="risk", version="2") == 1
            # Triton reports itself not ready while the candidate's stub exits (about 1.5 s): then ready again.
            wait_until(lambda: get(at(own, "/readyz"))[0] == 200, 10, "the front ready on the baseline")
        log = (own.state_dir / "front.log").read_text()
        assert re.search(r"rollback: risk version 2: error rate 1\.00 .*its weight is now 0", log), log


def test_a_healthy_candidate_keeps_its_weight_under_the_default_bounds(versioned: Settings, tmp_path: Path) -> None:
    with front_of(versioned, tmp_path, splits={"risk": Split(weights={"1": 50, "3": 50})}) as own:
        bodies = risk.PIPELINE.examples(300, 17)
        answers = [post(at(own, "/v1/risk/score"), b) for b in bodies]
        assert [status for status, _ in answers] == [200] * 300
        on_candidate = sum(a["model_version"] == model_versions(own)[3] for _, a in answers)
        assert on_candidate > 100

        def compared() -> bool:
            return metric(at(own, "/metrics"), "finfer_comparisons_total", version="3") >= on_candidate

        wait_until(compared, 10, "every candidate answer compared with the baseline's")
        state = get(at(own, "/v1/admin/versions"))[1]["risk"]
        assert state["rollbacks"] == [] and state["weights"] == {"1": 50, "2": 0, "3": 50}
        health = state["candidates"]["3"]
        assert health["error_rate"] == 0 and health["compared"] >= 50
        assert 0 < health["disagreement_rate"] < 0.3  # another model, within the bound


def stub_of(settings: Settings, model: str, version: int) -> int | None:
    """The Python stub serving `version` of `model` in this module's Triton (a child of this process)."""
    for triton in stack.children(os.getpid()):
        pid = stack.find_child(triton, f"{settings.model_repository}/{model}/{version}/model.py")
        if pid is not None:
            return pid
    return None


def test_a_candidates_dead_stub_is_left_dead_and_its_requests_answered(versioned: Settings, tmp_path: Path) -> None:
    """Only the served version is repaired (natively, reloading a candidate's step would restart version 1's
    stub of it too): the front leaves the candidate dead, the baseline answers its rows and rollback takes its
    weight. Embedded, each version is a fused model of its own (risk_score_v2)."""
    names = model_versions(versioned)
    candidate = risk.PIPELINE.model_name(2)
    bounds = {"rollback_window": 10, "rollback_min_answers": 5, "rollback_disagreement_rate": 1.0}
    with front_of(versioned, tmp_path, splits={"risk": Split(weights={"1": 50, "2": 50})}, **bounds) as own:
        served_stub, candidate_stub = stub_of(own, "risk_score", 1), stub_of(own, candidate, 1)
        assert served_stub and candidate_stub
        os.kill(candidate_stub, signal.SIGKILL)
        try:
            answers = [post(at(own, "/v1/risk/score"), b) for b in risk.PIPELINE.examples(60, 18)]
            assert {(status, a["model_version"]) for status, a in answers} == {(200, names[1])}
            assert get(at(own, "/v1/admin/versions"))[1]["risk"]["weights"]["2"] == 0
            assert metric(at(own, "/metrics"), "finfer_stub_repairs_total", model=candidate, result="left") == 1
            assert stub_of(own, "risk_score", 1) == served_stub  # version 1 never restarted
            assert f"the {candidate} stub is dead; not reloading it" in (own.state_dir / "front.log").read_text()
        finally:  # what an operator does to bring the candidate back: reload it
            triton_model(versioned, candidate, "unload")
            triton_model(versioned, candidate, "load")


def test_a_candidate_that_disagrees_with_the_baseline_is_rolled_back(versioned: Settings, tmp_path: Path) -> None:
    bounds = {"rollback_window": 40, "rollback_min_answers": 20, "rollback_disagreement_rate": 0.2}
    with front_of(versioned, tmp_path, splits={"risk": Split(weights={"1": 50, "2": 50})}, **bounds) as own:
        bodies = risk.PIPELINE.examples(200, 13)
        assert all(post(at(own, "/v1/risk/score"), b)[0] == 200 for b in bodies)

        def rolled_back() -> bool:
            return get(at(own, "/v1/admin/versions"))[1]["risk"]["weights"]["2"] == 0

        wait_until(rolled_back, 10, "the disagreeing candidate rolled back")
        (rollback,) = get(at(own, "/v1/admin/versions"))[1]["risk"]["rollbacks"]
        assert rollback["reason"].startswith("disagreement with the baseline")
        assert metric(at(own, "/metrics"), "finfer_comparisons_total", version="2", agreement="disagree") >= 5


def test_a_shadow_never_changes_or_delays_the_served_answer(versioned: Settings, tmp_path: Path) -> None:
    names = model_versions(versioned)
    shadow = {"splits": {"risk": Split(weights={"1": 1}, shadow=2)}, "shadow_timeout_s": 1.0}
    with front_of(versioned, tmp_path, **shadow) as own:
        bodies = risk.PIPELINE.examples(60, 14)
        answers = [post(at(own, "/v1/risk/score"), b)[1] for b in bodies]
        assert {a["model_version"] for a in answers} == {names[1]}
        for body, answer in zip(bodies, answers, strict=True):
            assert answer["probability_of_default"] == pytest.approx(direct_score(own, body), abs=1e-6)

        def compared(result: str, count: int) -> bool:
            return metric(at(own, "/metrics"), "finfer_comparison_calls_total", version="2", result=result) >= count

        wait_until(lambda: compared("compared", 60), 10, "every copy compared")
        state = get(at(own, "/v1/admin/versions"))[1]["risk"]
        assert state["disagreements"], "a model retrained on other labels disagrees on some grades"
        first = state["disagreements"][0]
        assert (first["answered_by"], first["compared_with"]) == (1, 2) and first["answer"] != first["other"]

        # A failing shadow: every answer still served, by version 1.
        with unloaded(versioned, "risk_score_v2"):
            answers = [post(at(own, "/v1/risk/score"), b) for b in risk.PIPELINE.examples(40, 15)]
            assert {(status, a["model_version"]) for status, a in answers} == {(200, names[1])}
            wait_until(lambda: compared("failed", 40), 10, "every failed copy counted")


def test_a_shadow_past_its_deadline_is_given_up_and_the_answers_stay(versioned: Settings, tmp_path: Path) -> None:
    """A copy that takes longer than the shadow's deadline (here 10 µs: shorter than any Triton call) is
    abandoned, counted as a timeout; the answers are version 1's, from Triton itself."""
    names = model_versions(versioned)
    shadow = {"splits": {"risk": Split(weights={"1": 1}, shadow=2)}, "shadow_timeout_s": 0.00001}
    with front_of(versioned, tmp_path, **shadow) as own:
        bodies = risk.PIPELINE.examples(30, 16)
        for body in bodies:
            status, answer = post(at(own, "/v1/risk/score"), body)
            assert (status, answer["model_version"]) == (200, names[1])
            assert answer["probability_of_default"] == pytest.approx(direct_score(own, body), abs=1e-6)

        def timed_out() -> bool:
            return metric(at(own, "/metrics"), "finfer_comparison_calls_total", version="2", result="timeout") >= 30

        wait_until(timed_out, 10, "every copy given up")
        assert metric(at(own, "/metrics"), "finfer_comparison_calls_total", version="2", result="compared") == 0


def test_versions_are_built_beside_the_served_one_or_refused(versioned: Settings, tmp_path: Path) -> None:
    repository = versioned.model_repository
    assert risk.PIPELINE.versions(repository) == [1, 2, 3]
    assert (repository / "risk_model" / "2" / "metrics.json").exists()

    def build(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "finfer.cli", "build", "--out", str(repository), "--profile", "small", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=300)

    refused = build("--family", "fraud", "--version", "2")
    assert refused.returncode == 2 and "served by a Python model, not an ensemble" in refused.stderr
    refused = build("--version", "2")
    assert refused.returncode == 2 and "name the one family" in refused.stderr
    # A retrain that drops a column changes the model's tensors: it cannot stand beside version 1.
    rows = list(csv.DictReader(paths.GERMAN_CREDIT_CSV.open(newline="", encoding="utf-8")))
    narrower = tmp_path / "narrower.csv"
    with narrower.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[c for c in rows[0] if c != "telephone"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    refused = build("--family", "risk", "--version", "4", "--csv", str(narrower))
    assert refused.returncode == 2 and "risk_features's config differs from the served version's" in refused.stderr
    assert not (repository / "risk_model" / "4").exists()
    assert risk.PIPELINE.versions(repository) == [1, 2, 3]


def test_fronts_sharing_a_database_serve_one_split_and_one_rollback(
    versioned: Settings, postgres: stack.PostgresServer, tmp_path: Path
) -> None:
    names = model_versions(versioned)
    shared = {
        "database_url": postgres.create_database("shared_splits"),
        "database_timeout_s": 1.0,
        "rollback_window": 40,
        "rollback_min_answers": 20,
        "rollback_disagreement_rate": 1.0,
    }

    def weights(own: Settings) -> dict[str, int]:
        return get(at(own, "/v1/admin/versions"))[1]["risk"]["weights"]

    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
    bodies = risk.PIPELINE.examples(200, 21)
    with front_of(versioned, tmp_path / "a", **shared) as a, front_of(versioned, tmp_path / "b", **shared) as b:
        assert weights(a) == weights(b) == {"1": 1, "2": 0, "3": 0}
        status, _ = put(at(a, "/v1/admin/splits/risk"), {"weights": {"1": 50, "2": 50}})
        assert status == 200
        wait_until(lambda: weights(b) == {"1": 50, "2": 50, "3": 0}, 5, "the split put to A served by B")
        answered = {post(at(b, "/v1/risk/score"), body)[1]["model_version"] for body in bodies[:60]}
        assert answered == {names[1], names[2]}

        # A decides the rollback (only A's requests meet the failing candidate); B stops sending to it too.
        with unloaded(versioned, "risk_score_v2"):
            answers = [post(at(a, "/v1/risk/score"), body) for body in bodies]
            assert [status for status, _ in answers] == [200] * len(bodies)
            assert weights(a)["2"] == 0
            wait_until(lambda: weights(b)["2"] == 0, 5, "A's rollback served by B")
            (rollback,) = get(at(b, "/v1/admin/versions"))[1]["risk"]["rollbacks"]
            assert rollback["version"] == 2 and rollback["decided_by"] == "another front"
            assert rollback["reason"].startswith("error rate 1.00")
            answered = [post(at(b, "/v1/risk/score"), body) for body in bodies[:60]]
            assert {answer["model_version"] for _, answer in answered} == {names[1]}

        # A front started later serves the current split from its first request.
        with front_of(versioned, tmp_path / "c", **shared) as c:
            assert weights(c) == {"1": 50, "2": 0, "3": 0}

        # The store away: a change is refused, with nothing changed anywhere, and answers go on.
        postgres.stop("immediate")
        try:
            status, error = put(at(a, "/v1/admin/splits/risk"), {"weights": {"3": 1}})
            assert status == 503 and "the split of risk is unchanged" in error["error"]["message"]
            assert weights(a) == weights(b) == {"1": 50, "2": 0, "3": 0}
            assert post(at(b, "/v1/risk/score"), bodies[0])[0] == 200
        finally:
            postgres.start()
        status, _ = put(at(b, "/v1/admin/splits/risk"), {"weights": {"3": 1}})
        assert status == 200
        wait_until(lambda: weights(a) == {"1": 0, "2": 0, "3": 1}, 10, "B's split served by A after the outage")

"""The split, rollback and comparison math, without a server (front/versions.py, the codecs' compare)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from google.protobuf import text_format
from pydantic import ValidationError

from finfer.errors import InvalidArgument
from finfer.exporters import model_config
from finfer.exporters.base import install_ensemble, pipeline_steps
from finfer.exporters.model_config import Flavour
from finfer.front.versions import BUCKETS, Bounds, Health, Window, baseline, bucket, checked_split, choose
from finfer.pipelines import risk
from finfer.pipelines.risk import Reason, RiskScore
from finfer.settings import Split

KEYS = [f"applicant-{i}".encode() for i in range(10_000)]


@pytest.mark.parametrize("weights", [{1: 90, 2: 10}, {1: 1, 2: 1, 3: 2}, {1: 0, 2: 5}])
def test_shares_follow_the_weights_over_ten_thousand_keys(weights: dict[int, int]) -> None:
    counts = Counter(choose(weights, bucket(key)) for key in KEYS)
    total = sum(weights.values())
    for version, weight in weights.items():
        assert counts[version] / len(KEYS) == pytest.approx(weight / total, abs=0.015)


def test_a_key_keeps_its_version_and_a_weight_change_moves_only_what_it_must() -> None:
    before = [choose({1: 90, 2: 10}, bucket(key)) for key in KEYS]
    assert before == [choose({1: 90, 2: 10}, bucket(key)) for key in KEYS]
    after = [choose({1: 80, 2: 20}, bucket(key)) for key in KEYS]
    # Growing the candidate's share only moves keys to it: no applicant on version 2 goes back.
    assert all(b == a or (b, a) == (1, 2) for b, a in zip(before, after, strict=True))
    assert sum(b != a for b, a in zip(before, after, strict=True)) / len(KEYS) == pytest.approx(0.1, abs=0.015)


def test_buckets_are_the_same_in_every_process() -> None:
    # Not Python's salted hash(): fronts and restarts agree on every applicant's version.
    code = "from finfer.front.versions import bucket; print([bucket(f'applicant-{i}'.encode()) for i in range(50)])"
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        other = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert other.stdout.strip() == str([bucket(key) for key in KEYS[:50]]), other.stderr
    assert min(bucket(k) for k in KEYS) >= 0 and max(bucket(k) for k in KEYS) < BUCKETS


def test_the_baseline_is_the_heaviest_version_the_lower_on_a_tie() -> None:
    assert baseline({1: 90, 2: 10}) == 1
    assert baseline({1: 10, 2: 90}) == 2
    assert baseline({1: 50, 2: 50}) == 1


def test_splits_name_built_versions_and_a_positive_weight() -> None:
    with pytest.raises(ValidationError, match="should match pattern"):
        Split(weights={"01": 1})
    assert checked_split(Split(weights={"1": 9, "2": 1}, shadow=2), [1, 2]).shadow == 2
    with pytest.raises(InvalidArgument, match=r"weights: version 3 is not built \(built: 1, 2\)") as refused:
        checked_split(Split(weights={"3": 1}), [1, 2])
    assert refused.value.field == "weights"
    with pytest.raises(InvalidArgument, match="shadow: version 4 is not built") as refused:
        checked_split(Split(weights={"1": 1}, shadow=4), [1, 2])
    assert refused.value.field == "shadow"
    with pytest.raises(ValidationError, match="at least one version needs a weight above 0"):
        Split(weights={"1": 0, "2": 0})
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        Split(weights={"1": -1, "2": 3})


def test_a_window_keeps_the_rate_of_its_last_outcomes() -> None:
    window = Window(4)
    for outcome in (True, True, False, False, False, False):
        window.add(outcome)
    assert (window.count, window.rate()) == (4, 0.0)
    window.add(True)
    assert window.rate() == 0.25


def test_health_breaches_only_past_the_minimum_and_the_bound() -> None:
    health = Health(Bounds(window=10, min_answers=5, error_rate=0.2, disagreement_rate=0.5))
    for _ in range(4):
        health.errors.add(True)
    assert health.breach() is None  # four failures are too few to judge
    health.errors.add(False)
    assert health.breach() == "error rate 0.80 over its last 5 answers is above 0.2"
    healthy = Health(Bounds(window=10, min_answers=5, error_rate=0.2, disagreement_rate=0.5))
    for agree in (True, False, True, False, True, True):
        healthy.errors.add(False)
        healthy.disagreements.add(not agree)
    assert healthy.breach() is None


def test_risk_answers_compare_by_grade_score_and_reasons() -> None:
    codec = risk.RiskCodec.__new__(risk.RiskCodec)

    def score(p: float, grade: str, *features: str) -> RiskScore:
        return RiskScore(p, grade, [Reason(f, "v", 0.1, "t") for f in features])

    same = codec.compare(score(0.2, "B", "age", "purpose"), score(0.25, "B", "age", "housing"))
    assert same.agree and same.difference == pytest.approx(0.05) and same.overlap == pytest.approx(1 / 3)
    assert not codec.compare(score(0.2, "B", "age"), score(0.4, "D", "age")).agree


@pytest.mark.parametrize("flavour", [Flavour.NATIVE, Flavour.EMBEDDED])
def test_a_candidate_ensemble_pins_every_step_to_its_version(tmp_path: Path, flavour: Flavour) -> None:
    for step in ("risk_features", "risk_model", "risk_reasons"):  # what a fused pipeline reads of its steps
        (tmp_path / step).mkdir()
        (tmp_path / step / "config.pbtxt").write_text(f'name: "{step}" backend: "python"')
    install_ensemble(tmp_path, "risk_score", 3, flavour)
    config = model_config.parse((tmp_path / "risk_score_v3" / "config.pbtxt").read_text())
    assert config.name == "risk_score_v3"
    assert {s["model_version"] for s in pipeline_steps(tmp_path / "risk_score_v3")} == {3}
    install_ensemble(tmp_path, "risk_score", 1, flavour)
    steps = pipeline_steps(tmp_path / "risk_score")
    assert [s["model_name"] for s in steps] == ["risk_features", "risk_model", "risk_reasons"]
    assert {s["model_version"] for s in steps} == {1}  # never "latest": that is a candidate


def test_a_pipeline_lists_its_built_versions(tmp_path: Path) -> None:
    pipeline = risk.PIPELINE
    assert pipeline.versions(tmp_path) == []
    (tmp_path / pipeline.meta).parent.mkdir(parents=True)
    (tmp_path / pipeline.meta).write_text("{}")
    for version in (2, 5):
        (tmp_path / pipeline.model_name(version)).mkdir()
        (tmp_path / pipeline.meta_of(version)).parent.mkdir(parents=True)
        (tmp_path / pipeline.meta_of(version)).write_text("{}")
    (tmp_path / pipeline.model_name(7)).mkdir()  # an ensemble without its models: not a version
    assert pipeline.versions(tmp_path) == [1, 2, 5]
    assert pipeline.meta_of(5) == "risk_features/5/schema.json"


def test_intent_damage_and_document_answers_compare_by_what_a_client_acts_on() -> None:
    from finfer.pipelines.damage import Damage, DamageCodec
    from finfer.pipelines.documents import Document, DocumentCodec, DocumentField, DocumentLine
    from finfer.pipelines.intent import Intent, IntentCodec, Slots

    intent = IntentCodec.__new__(IntentCodec)
    compared = intent.compare(Intent("loan_apply", 0.9, Slots(), False), Intent("loan_apply", 0.6, Slots(), False))
    assert compared.agree and compared.difference == pytest.approx(0.3)
    assert not intent.compare(Intent("loan_apply", 0.9, Slots(), False), Intent("loan_apply", 0.4, Slots(), True)).agree

    damage = DamageCodec.__new__(DamageCodec)
    dent = Damage("dent", "minor", {"none": 0.1, "dent": 0.9}, {"minor": 1.0})
    assert damage.compare(dent, Damage("dent", "minor", {"none": 0.3, "dent": 0.7}, {"minor": 1.0})).agree
    assert not damage.compare(dent, Damage("dent", "severe", {"none": 0.1, "dent": 0.9}, {"severe": 1.0})).agree

    documents = DocumentCodec.__new__(DocumentCodec)
    box = [[0.0, 0.0]] * 4

    def page(vin: str, confidence: float, kind: str = "vin_plate") -> Document:
        line = DocumentLine(vin, confidence, box)
        return Document([line], kind, confidence, {"vin": DocumentField(vin, True, confidence, box)})

    # The same kind and fields read with other confidences agree; another value or another kind does not.
    assert documents.compare(page("LSVAU2180N2183294", 0.9), page("LSVAU2180N2183294", 0.7)).agree
    assert not documents.compare(page("LSVAU2180N2183294", 0.9), page("LSVAU2180N2183295", 0.9)).agree
    assert not documents.compare(page("LSVAU2180N2183294", 0.9), page("LSVAU2180N2183294", 0.9, "contract")).agree


def test_a_repository_built_before_versions_takes_a_candidate(tmp_path: Path) -> None:
    """Configs without a version policy and a served ensemble asking for the latest step versions (as builds
    wrote them before versions existed): a candidate is accepted, and the served ensemble then pins version 1."""
    from finfer.exporters.base import BuildOptions, Profile, export
    from finfer.exporters.risk import RiskExporter

    export(RiskExporter(), BuildOptions(out=tmp_path, profile=Profile.SMALL), lambda _: None)
    for path in tmp_path.glob("*/config.pbtxt"):
        config = model_config.parse(path.read_text())
        config.ClearField("version_policy")
        for step in config.ensemble_scheduling.step:
            step.model_version = -1
        path.write_text(text_format.MessageToString(config))
    old = model_config.parse((tmp_path / "risk_model" / "config.pbtxt").read_text())
    assert not old.HasField("version_policy")

    export(RiskExporter(), BuildOptions(out=tmp_path, profile=Profile.SMALL, version=2), lambda _: None)
    assert {s["model_version"] for s in pipeline_steps(tmp_path / "risk_score")} == {1}
    assert model_config.parse((tmp_path / "risk_model" / "config.pbtxt").read_text()).version_policy.HasField("all")
    assert risk.PIPELINE.versions(tmp_path) == [1, 2]


def test_a_candidate_is_judged_on_its_models_errors_not_on_an_outage() -> None:
    """Its rows go to the baseline either way; only the candidate's own errors count towards its rollback."""
    import asyncio
    from types import SimpleNamespace

    from finfer.errors import Unavailable, UpstreamError
    from finfer.front.versions import Versions
    from finfer.pipelines.declaration import Stored
    from finfer.settings import Settings

    class Version:
        def __init__(self, version: int, error: Exception | None = None) -> None:
            self.version, self.error, self.model_version = version, error, f"v{version}"
            self.codec = SimpleNamespace(split_key=lambda row: row)

        async def results(self, rows):
            if self.error is not None:
                raise self.error
            return [(Stored(b"{}"), None) for _ in rows]

    async def judge(error: Exception) -> tuple[dict, list]:
        settings = Settings(rollback_window=10, rollback_min_answers=5)
        served = {1: Version(1), 2: Version(2, error)}
        versions = Versions(risk.PIPELINE, served, Split(weights={"1": 1, "2": 1}), settings)
        rows = [f"applicant-{i}".encode() for i in range(40)]
        answered = await versions.results(rows)
        assert {by.version for by, _, _ in answered} == {1}  # every row answered, by the baseline
        return versions.health[2].snapshot(), versions.rollbacks

    health, rollbacks = asyncio.run(judge(Unavailable("the model server is unavailable")))
    assert health["answers"] == 0 and rollbacks == []
    health, rollbacks = asyncio.run(judge(UpstreamError("the model server failed: NOT_FOUND")))
    assert health["error_rate"] == 1.0 and rollbacks[0]["reason"].startswith("error rate 1.00")


def test_a_slow_or_hung_candidate_is_rolled_back_on_latency_and_one_as_fast_is_not() -> None:
    """Answer times count per answer; a candidate that hangs until the deadline (Unavailable) is timed too."""
    import asyncio
    from types import SimpleNamespace

    from finfer.errors import Unavailable
    from finfer.front.versions import Versions
    from finfer.pipelines.declaration import Stored
    from finfer.settings import Settings

    class Version:
        def __init__(self, version: int, seconds: float, error: Exception | None = None) -> None:
            self.version, self.seconds, self.error, self.model_version = version, seconds, error, f"v{version}"
            self.codec = SimpleNamespace(split_key=lambda row: row)

        async def results(self, rows):
            await asyncio.sleep(self.seconds)
            if self.error is not None:
                raise self.error
            return [(Stored(b"{}"), None) for _ in rows]

    async def judge(candidate: Version) -> tuple[dict, list]:
        settings = Settings(rollback_window=20, rollback_min_answers=10, rollback_latency_margin_ms=20)
        versions = Versions(
            risk.PIPELINE, {1: Version(1, 0.001), 2: candidate}, Split(weights={"1": 1, "2": 1}), settings
        )
        for i in range(60):
            await versions.results([f"applicant-{i}".encode()])
        return versions.health[2].snapshot(), versions.rollbacks

    health, rollbacks = asyncio.run(judge(Version(2, 0.001)))
    assert rollbacks == [] and health["p95_ms"] is not None
    health, rollbacks = asyncio.run(judge(Version(2, 0.08)))
    assert rollbacks[0]["reason"].startswith("p95 latency") and "the baseline's" in rollbacks[0]["reason"]
    health, rollbacks = asyncio.run(judge(Version(2, 0.08, Unavailable("deadline exceeded"))))
    assert health["error_rate"] == 0 and rollbacks[0]["reason"].startswith("p95 latency")

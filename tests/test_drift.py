"""Drift: PSI against the risk model's training distribution, on the pure functions and through the live front,
and the HTML report naming what moved."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from finfer.loadtest import stack
from finfer.models.drift import psi as drift
from finfer.settings import Settings
from tests.conftest import Front
from tests.helpers import call, load_applicants, metric, post


@pytest.fixture(scope="module")
def reference(repository: Path) -> dict:
    return json.loads((repository / "risk_features" / "1" / "drift_reference.json").read_text())


def window_psi(reference: dict, rows: list[dict], size: int = 2000) -> dict[str, float]:
    windows = {name: drift.Window(drift.from_dict(ref), size) for name, ref in reference["features"].items()}
    for row in rows:
        for name, window in windows.items():
            window.add(row[name])
    return {name: window.psi() for name, window in windows.items()}


def shifted(row: dict[str, Any]) -> dict[str, Any]:
    """Larger loans, and three in four for a new car."""
    out = dict(row, credit_amount=row["credit_amount"] * 3)
    if random.random() < 0.75:
        out["purpose"] = "car (new)"
    return out


def test_a_stream_drawn_from_training_is_stable_and_a_shifted_one_is_not(reference: dict) -> None:
    random.seed(5)
    rows = load_applicants()
    drawn = [random.choice(rows) for _ in range(2000)]
    stable = window_psi(reference, drawn)
    assert max(stable.values()) < 0.05, stable
    moved = window_psi(reference, [shifted(r) for r in drawn])
    assert moved["credit_amount"] > 0.25 and moved["purpose"] > 0.25, moved
    assert max(v for k, v in moved.items() if k not in ("credit_amount", "purpose")) < 0.05


def test_every_served_card_has_a_reference(repository: Path) -> None:
    """Each family's exporter writes its training distribution beside the pipeline's metadata."""
    from finfer.pipelines.registry import REGISTRY

    for pipeline in REGISTRY:
        if pipeline.name == "application":
            continue  # decisions are compared by the records, not by a training distribution
        reference = json.loads((repository / pipeline.meta).with_name("drift_reference.json").read_text())
        assert reference["outputs"], pipeline.name
        for ref in (*reference["features"].values(), *reference["outputs"].values()):
            assert sum(ref["shares"]) == pytest.approx(1.0), pipeline.name


def test_the_window_keeps_only_its_last_values() -> None:
    reference = drift.numeric_reference(list(range(100)), bins=4)
    window = drift.Window(reference, size=10)
    values = [random.Random(1).uniform(0, 100) for _ in range(37)]
    for value in values:
        window.add(value)
    expected = [0] * len(reference.shares)
    for value in values[-10:]:
        expected[reference.bin(value)] += 1
    assert window.counts == expected and window.seen == 37
    assert drift.psi(reference.shares, [25, 25, 25, 25]) == pytest.approx(0, abs=1e-9)
    assert drift.categorical_reference(["a", "a", "b"]).bin("never seen") == 2  # `other`


def test_the_front_reports_a_shifted_field(front: Front, settings: Settings, tmp_path: Path) -> None:
    random.seed(9)
    rows = load_applicants()
    for i in range(settings.drift_window + 20):
        body = shifted(random.choice(rows))
        body["credit_amount"] += i  # a miss: the model's output is counted too
        status, answer = post(f"{front.http_url}/v1/risk/score", body)
        assert status == 200, answer
    status, windows, _ = call(f"{front.http_url}/v1/drift")
    assert status == 200
    assert {"risk", "fraud", "intent", "documents", "damage"} <= set(windows)
    risk = windows["risk"]
    assert risk["inputs"]["credit_amount"]["psi"] > 0.25
    assert risk["inputs"]["credit_amount"]["observed"] == settings.drift_window
    assert risk["outputs"]["probability_of_default"]["observed"] > 0
    gauge = metric(f"{front.http_url}/metrics", "finfer_drift_psi", pipeline="risk", feature="credit_amount")
    assert gauge > 0.25

    out = tmp_path / "report.html"
    done = subprocess.run(
        [sys.executable, "-m", "finfer.cli", "drift", "report", "--url", front.http_url, "--out", str(out)],
        env=stack.environment(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "credit_amount" in done.stdout.split("drifted")[1]
    page = out.read_text()
    assert '<h3 class="drifted">input credit_amount</h3>' in page
    assert page.count("data:image/png;base64,") >= 2

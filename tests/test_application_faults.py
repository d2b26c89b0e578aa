"""Loan applications when things go wrong: a branch late past its deadline and one whose model is gone, on a
Triton of their own (the answer still comes, degraded, never approved), and a bad policy refused at every
start, naming its key."""

from __future__ import annotations

import shutil
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from finfer.loadtest import stack
from finfer.pipelines.application import PIPELINE
from finfer.triton_server import TritonServer
from tests.conftest import wait_until

from .helpers import metric, model_prediction, post
from .test_applications import b64, fresh, page, panel

# A second Triton on the same built models, with a policy whose OCR deadline is far below what OCR
# takes, that counts every damage as severe and every intent as a contradiction, and with the fraud model
# the fraud branch calls unloaded once started: one branch late, one down, two checks that must fire. Risk's
# and intent's models are unloaded too: those branches run in the application's process and still answer.
STRICT_POLICY = """version = "strict-test"
[checks]
severe_damage = ["none", "minor", "moderate", "severe"]
review_intents = ["loan_apply", "credit_limit", "interest_rate", "repayment_query", "early_repayment",
  "overdue_negotiation", "change_card", "mortgage_release", "contract_invoice", "insurance", "complaint",
  "human_agent"]
[branches.documents]
deadline_ms = 60
"""


@pytest.fixture(scope="module")
def strict_front(repository: Path, settings, tmp_path_factory):
    # The policy comes from FINFER_POLICY_FILE (as a Kubernetes ConfigMap gives it), not from the repository:
    # the answers' "strict-test" shows that Triton's step read it.
    state = tmp_path_factory.mktemp("strict_state")
    policy = state / "policy.toml"
    policy.write_text(STRICT_POLICY)
    strict = stack.bench_settings(repository, state)
    strict = strict.model_copy(update={"triton_exit_timeout_s": 1, "policy_file": policy})
    server = TritonServer(strict)
    server.start()
    try:
        server.wait_ready(timeout=120)
        # Risk's and intent's own models too: the application runs those branches' steps in its own process.
        for model in ("fraud_score", "risk_score", "customer_intent"):
            unload = f"{strict.triton_http_url}/v2/repository/models/{model}/unload"
            urllib.request.urlopen(urllib.request.Request(unload, data=b"{}", method="POST"), timeout=30).close()
        url = f"http://127.0.0.1:{strict.http_port}"
        # /healthz, not /readyz: the front only checks the pipelines' own models, so it is ready anyway.
        command = [sys.executable, "-m", "finfer.server"]
        with stack.ready_process(command, f"{url}/healthz", "the strict front", stack.environment(strict)):
            yield SimpleNamespace(url=url, triton_metrics=strict.triton_metrics_url)
    finally:
        server.stop()


def test_a_late_branch_and_a_down_branch_are_named_and_the_answer_still_comes(strict_front, repository: Path):
    urls = strict_front
    warm = fresh()
    status, answer = post(f"{urls.url}{PIPELINE.http_path}", warm)
    assert status == 200 and answer["branches"]["fraud"] == "failed", answer
    strict_front = urls.url
    body = fresh(
        documents=[{"kind": "contract", "image_base64": b64(page("contract", s))} for s in (71, 72)],
        vehicle_photos=[{"image_base64": b64(panel("dent", 1, 4))}, {"image_base64": b64(panel("none", 0, 5))}],
        message="你好",
    )
    started = time.perf_counter()
    status, answer = post(f"{strict_front}{PIPELINE.http_path}", body)
    elapsed = time.perf_counter() - started
    assert status == 200, answer
    assert answer["branches"] == {
        "risk": "ok",
        "fraud": "failed",
        "documents": "timeout",
        "damage": "ok",
        "intent": "ok",
    }, answer["reasons"]
    assert answer["degraded"] is True and answer["fraud"] is None and answer["documents"] == []
    # In process, the same steps as risk_score: the booster's own probability.
    assert abs(answer["risk"]["probability_of_default"] - model_prediction(repository, body["applicant"])) < 1e-5
    assert answer["decision"] != "approve" and answer["policy_version"] == "strict-test"
    reasons = [(r["code"], r["source"]) for r in answer["reasons"]]
    assert {("BRANCH_TIMEOUT", "documents"), ("BRANCH_FAILED", "fraud"), ("INTENT_CONTRADICTS", "intent")} <= set(
        reasons
    )
    assert [r["text"].split(":")[0] for r in answer["reasons"] if r["code"] == "SEVERE_DAMAGE"] == [
        "vehicle_photos[0]",
        "vehicle_photos[1]",
    ]
    assert "fraud_score" in next(r["text"] for r in answer["reasons"] if r["code"] == "BRANCH_FAILED")
    triton_metrics = urls.triton_metrics

    # Each application instance hands its counts to Triton every half second, one series at a time
    # (runtime/tally.py): wait for every count, not only the decisions (a read once saw those before the branches).
    def counted() -> bool:
        return metric(triton_metrics, "finfer_application_decisions_total") == 2 and (
            metric(triton_metrics, "finfer_application_branches_total", branch="fraud", status="failed") == 2
            and metric(triton_metrics, "finfer_application_branches_total", branch="documents", status="timeout") == 1
        )

    wait_until(counted, 5, "the decisions and branches counted")
    assert metric(triton_metrics, "finfer_application_branches_total", branch="fraud", status="failed") == 2
    assert metric(triton_metrics, "finfer_application_branches_total", branch="documents", status="timeout") == 1
    assert metric(triton_metrics, "finfer_application_decisions_total", decision="approve") == 0
    assert metric(triton_metrics, "finfer_application_decisions_total") == 2
    # Two OCR pages take over half a second here; the answer waits for the 60 ms deadline, not for them.
    assert answer["branch_ms"]["documents"] < 60 + 40 and elapsed < 0.06 + 0.5, (elapsed, answer["branch_ms"])


def test_a_bad_policy_stops_the_start_naming_the_key(repository: Path, tmp_path: Path, capsys, monkeypatch):
    """`finfer policy check`, `finfer serve --policy` and the front's start (loading the repository's
    policy) all refuse it with the key at fault."""
    from finfer.application.policy import PolicyError
    from finfer.cli import main

    bad = tmp_path / "policy.toml"
    bad.write_text(STRICT_POLICY.replace("deadline_ms = 60", "deadline_ms = -1"))
    assert main(["policy", "check", str(bad)]) == 2
    assert "branches.documents.deadline_ms: " in capsys.readouterr().err
    copy_root = tmp_path / "repository"
    copy_root.mkdir()
    for folder in repository.iterdir():
        if folder.name == PIPELINE.triton_model:
            shutil.copytree(folder, copy_root / folder.name)
        else:
            (copy_root / folder.name).symlink_to(folder)
    monkeypatch.setenv("FINFER_MODEL_REPOSITORY", str(copy_root))
    assert main(["serve", "--no-build", "--policy", str(bad)]) == 2  # before Triton starts
    assert "branches.documents.deadline_ms: " in capsys.readouterr().err
    (copy_root / PIPELINE.triton_model / "1" / "policy.toml").write_bytes(bad.read_bytes())
    assert main(["serve", "--no-build"]) == 2  # the repository's own policy, checked the same way
    assert "branches.documents.deadline_ms: " in capsys.readouterr().err
    with pytest.raises(PolicyError, match=r"^branches\.documents\.deadline_ms: "):
        PIPELINE.load(copy_root)  # what the front's start and the step's load do
    # A policy file in force (a mounted ConfigMap) is checked the same way, over the repository's good one.
    monkeypatch.setenv("FINFER_MODEL_REPOSITORY", str(repository))
    monkeypatch.setenv("FINFER_POLICY_FILE", str(bad))
    assert main(["serve", "--no-build"]) == 2
    assert "branches.documents.deadline_ms: " in capsys.readouterr().err
    with pytest.raises(PolicyError, match=r"^branches\.documents\.deadline_ms: "):
        PIPELINE.load(repository)
    assert main(["serve", "--no-build", "--policy", str(bad)]) == 2
    assert "--policy and FINFER_POLICY_FILE" in capsys.readouterr().err

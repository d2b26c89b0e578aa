"""The decision policy, its bands and rules, the cross-checks and the fan-out's deadlines, without a server."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace

import pytest

from finfer.application.crosschecks import damage_findings, declared_findings, document_findings, intent_findings
from finfer.application.decide import Branches, Status, decide, fraud_findings, risk_findings
from finfer.application.fanout import BranchError, run_branch
from finfer.application.findings import Declared
from finfer.application.policy import DEFAULT_POLICY, Outcome, PolicyError, load_policy, parse_policy
from finfer.models.ocr.training.documents import random_id_number, random_vin
from finfer.pipelines.damage import Damage
from finfer.pipelines.declaration import Pipeline
from finfer.pipelines.fraud import FraudEvidence, FraudScore, LinkCounts
from finfer.pipelines.intent import Intent, Slots
from finfer.pipelines.risk import Reason, RiskScore
from tests.helpers import read_page

BRANCHES = ["risk", "fraud", "documents", "damage", "intent"]
POLICY = load_policy(DEFAULT_POLICY, BRANCHES)
rng = __import__("random").Random(4)
ID, OTHER_ID, VIN = random_id_number(rng), random_id_number(rng), random_vin(rng)


def policy_with(extra: str):
    return parse_policy(f'version = "t"\n{extra}', BRANCHES)


def risk(pd: float, grade: str = "B") -> RiskScore:
    return RiskScore(pd, grade, [Reason("duration_in_month", "48", 0.4, "Long loan duration")])


def fraud(p: float, known: int = 0) -> FraudScore:
    return FraudScore(p, "graph", FraudEvidence(LinkCounts([0], [0], [0]), known, known, []), False)


def codes(findings) -> list[str]:
    return [f.code for f in findings]


def test_the_default_policy_gives_every_branch_a_deadline_and_never_approves_a_failure():
    assert set(POLICY.branches) == set(BRANCHES)
    assert all(b.deadline_ms > 0 and b.on_failure in ("review", "decline") for b in POLICY.branches.values())
    assert POLICY.branch("risk").required


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[risk]\napprove_below = 0.2", "version"),
        ('version = "t"\n[risk]\napprove_below = 1.5', "risk.approve_below"),
        ('version = "t"\n[risk]\napprove_below = 0.6\ndecline_from = 0.5', "risk.decline_from"),
        ('version = "t"\n[fraud]\nreview_from = 0.95\ndecline_from = 0.9', "fraud.decline_from"),
        ('version = "t"\n[risk]\napprove_bellow = 0.2', "risk.approve_bellow"),
        ('version = "t"\n[outcomes]\nNOT_A_CHECK = "review"', "outcomes.NOT_A_CHECK"),
        ('version = "t"\n[outcomes]\nID_MISMATCH = "maybe"', "outcomes.ID_MISMATCH"),
        ('version = "t"\n[branches.ocr]\ndeadline_ms = 10', "branches.ocr"),
        ('version = "t"\n[branches.risk]\non_failure = "approve"', "branches.risk.on_failure"),
        ('version = "t"\n[branches.risk]\ndeadline_ms = 0', "branches.risk.deadline_ms"),
        ('version = "t"\n[limits]\nmax_amount = "lots"', "limits.max_amount"),
    ],
)
def test_a_bad_policy_is_refused_naming_its_key(text, key):
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, BRANCHES)
    assert caught.value.key == key and str(caught.value).startswith(f"{key}: ")


def test_a_policy_that_is_not_toml_or_not_there_is_refused(tmp_path):
    with pytest.raises(PolicyError, match="not valid TOML"):
        parse_policy("version = ", BRANCHES)
    with pytest.raises(PolicyError, match="cannot read the policy"):
        load_policy(tmp_path / "missing.toml", BRANCHES)


@pytest.mark.parametrize(
    ("pd", "grade", "outcome"),
    [(0.05, "A", None), (0.19, "B", None), (0.20, "B", "review"), (0.54, "C", "review"), (0.55, "D", "decline")],
)
def test_probability_of_default_bands(pd, grade, outcome):
    found = risk_findings(POLICY, risk(pd, grade))
    if outcome is None:
        assert found == []
    else:
        assert codes(found) == [f"RISK_{outcome.upper()}", "RISK_DURATION_IN_MONTH"]  # the model's reasons follow
        assert {f.outcome for f in found} == {Outcome(outcome)} and found[1].text == "Long loan duration"


def test_grades_override_the_bands():
    assert codes(risk_findings(POLICY, risk(0.1, "D")))[0] == "RISK_REVIEW"
    assert codes(risk_findings(POLICY, risk(0.1, "E")))[0] == "RISK_DECLINE"


def test_fraud_bands_and_known_rings():
    assert fraud_findings(POLICY, fraud(0.49)) == []
    assert codes(fraud_findings(POLICY, fraud(0.5))) == ["FRAUD_REVIEW"]
    assert codes(fraud_findings(POLICY, fraud(0.95))) == ["FRAUD_DECLINE"]
    assert codes(fraud_findings(POLICY, fraud(0.1, known=2))) == ["FRAUD_KNOWN_RING"]
    assert fraud_findings(policy_with("[fraud]\ndecline_known_fraud_neighbours = 0"), fraud(0.1, known=9)) == []


def test_id_checks_fire_on_a_contradiction_and_stay_silent_on_agreement():
    declared = Declared(id_number=ID)
    assert document_findings(POLICY, declared, [("id_card", read_page("id_card_front", id_number=(ID, True)))]) == []
    other = read_page("id_card_front", id_number=(OTHER_ID, True))
    (mismatch,) = document_findings(POLICY, declared, [("id_card", other)])
    assert (mismatch.code, mismatch.outcome, mismatch.source) == ("ID_MISMATCH", Outcome.DECLINE, "documents")
    assert ID not in mismatch.text and OTHER_ID not in mismatch.text  # personal data stays out of reasons
    invalid = read_page("id_card_front", id_number=(ID, False))
    (checksum,) = document_findings(POLICY, declared, [("id_card", invalid)])
    assert checksum.code == "CHECKSUM_INVALID" and "id number" in checksum.text


def test_vin_plate_and_amount_checks():
    declared = Declared(vin=VIN, plate="京A12345", amount=150_000.0)
    agree = read_page("vehicle_licence", vin=(VIN, True), plate=("京A·12345", True))
    assert document_findings(POLICY, declared, [("vehicle_licence", agree)]) == []
    other = random_vin(rng)
    licence = read_page("vehicle_licence", vin=(other, True), plate=("沪B99999", True))
    found = document_findings(POLICY, declared, [("vehicle_licence", licence)])
    assert codes(found) == ["PLATE_MISMATCH", "VIN_MISMATCH"]
    found = document_findings(POLICY, declared, [("vin_plate", read_page("vin_plate", vin=(other, False)))])
    assert codes(found) == ["CHECKSUM_INVALID"]
    contract = read_page("contract", id_number=(ID, True), vin=(VIN, True), amount=("150000.00", True))
    assert document_findings(POLICY, declared, [("contract", contract)]) == []
    off = read_page("contract", id_number=(ID, True), vin=(VIN, True), amount=("180000.00", True))
    assert codes(document_findings(POLICY, declared, [("contract", off)])) == ["AMOUNT_MISMATCH"]


def test_a_field_the_document_kind_must_carry_but_ocr_did_not_find():
    found = document_findings(POLICY, Declared(), [("vin_plate", read_page("vin_plate", vin=None))])
    assert codes(found) == ["FIELD_UNREAD"] and "documents[0] (vin_plate)" in found[0].text


def test_damage_intent_and_limit_checks():
    severe = Damage("dent", "severe", {}, {})
    minor = Damage("scratch", "minor", {}, {})
    assert codes(damage_findings(POLICY, [minor, severe])) == ["SEVERE_DAMAGE"]
    assert "vehicle_photos[1]" in damage_findings(POLICY, [minor, severe])[0].text
    declared = Declared(amount=50_000.0, term_months=24)
    assert intent_findings(POLICY, declared, Intent("loan_apply", 0.9, Slots(50_000, 24), False)) == []
    assert codes(intent_findings(POLICY, declared, Intent("complaint", 0.9, Slots(), False))) == ["INTENT_CONTRADICTS"]
    found = intent_findings(POLICY, declared, Intent("loan_apply", 0.9, Slots(200_000, 36), False))
    assert codes(found) == ["MESSAGE_AMOUNT_MISMATCH", "MESSAGE_TERM_MISMATCH"]
    over = Declared(amount=600_000.0, term_months=72, id_number=ID[:-1] + ("0" if ID[-1] != "0" else "1"))
    assert codes(declared_findings(POLICY, over)) == ["ID_CHECKSUM", "AMOUNT_OVER_LIMIT", "TERM_OVER_LIMIT"]


def test_the_policy_can_change_what_a_finding_means():
    lenient = policy_with('[outcomes]\nID_MISMATCH = "review"\nSEVERE_DAMAGE = "approve"')
    (mismatch,) = document_findings(
        lenient, Declared(id_number=ID), [("id_card", read_page("id_card_front", id_number=(OTHER_ID, True)))]
    )
    assert mismatch.outcome is Outcome.REVIEW
    severe = [Damage("dent", "severe", {}, {})]
    damaged = Branches(status=dict.fromkeys(BRANCHES, Status.OK), risk=risk(0.05), damage=severe)
    assert decide(lenient, Declared(), damaged).decision is Outcome.APPROVE


def _branches(**status: Status) -> Branches:
    return Branches(status={name: status.get(name, Status.OK) for name in BRANCHES}, risk=risk(0.05), fraud=fraud(0.1))


def test_a_clean_application_is_approved_with_no_reasons():
    decision = decide(POLICY, Declared(), _branches())
    assert decision.decision is Outcome.APPROVE and decision.reasons == []


def test_a_late_or_failed_branch_never_yields_approve():
    late = decide(POLICY, Declared(), _branches(intent=Status.TIMEOUT))
    assert late.decision is Outcome.REVIEW and codes(late.reasons) == ["BRANCH_TIMEOUT"]
    assert "300 ms deadline" in late.reasons[0].text and late.reasons[0].source == "intent"
    strict = policy_with('[branches.risk]\non_failure = "decline"')
    failed = decide(strict, Declared(), replace(_branches(risk=Status.FAILED), risk=None))
    assert failed.decision is Outcome.DECLINE and codes(failed.reasons) == ["BRANCH_FAILED"]


def test_a_required_branch_missing_counts_as_the_policy_says_and_an_optional_one_not_at_all():
    assert decide(POLICY, Declared(), _branches(documents=Status.SKIPPED)).decision is Outcome.APPROVE
    missing = replace(_branches(fraud=Status.SKIPPED), fraud=None)
    decision = decide(POLICY, Declared(), missing)
    assert decision.decision is Outcome.REVIEW and codes(decision.reasons) == ["BRANCH_MISSING"]


def test_reasons_put_declines_first_then_reviews_in_branch_order():
    branches = replace(_branches(intent=Status.TIMEOUT), risk=risk(0.3), fraud=fraud(0.95))
    decision = decide(POLICY, Declared(), branches)
    assert decision.decision is Outcome.DECLINE
    assert codes(decision.reasons) == ["FRAUD_DECLINE", "RISK_REVIEW", "RISK_DURATION_IN_MONTH", "BRANCH_TIMEOUT"]


@dataclass
class Echo:
    """A codec that returns each row back; the branch's model is the `infer` the test passes."""

    def encode(self, rows):
        return {"x": ((len(rows),), b"")}

    def decode(self, outputs, rows):
        return list(rows)


def _pipeline(one_per_request: bool) -> Pipeline:
    return Pipeline(
        "echo", "echo", (), (), "echo", "", "", None, object, "", "", "", "", None, None, None,
        one_per_request=one_per_request,
    )  # fmt: skip


def test_a_branch_is_cut_at_its_deadline_and_named_timeout():
    async def slow(pipeline, encoded):
        await asyncio.sleep(5)

    started = time.perf_counter()
    run = asyncio.run(run_branch(_pipeline(False), Echo(), ["a"], slow, 0.05))
    assert run.status is Status.TIMEOUT and time.perf_counter() - started < 1.0 and run.results == []


def test_a_branch_error_is_named_failed_and_rows_without_inputs_skip_the_branch():
    async def broken(pipeline, encoded):
        raise BranchError("Request for unknown model: 'vehicle_damage' is not found")

    failed = asyncio.run(run_branch(_pipeline(False), Echo(), ["a"], broken, 1.0))
    assert failed.status is Status.FAILED and "unknown model" in failed.error
    skipped = asyncio.run(run_branch(_pipeline(False), Echo(), [], broken, 1.0))
    assert skipped.status is Status.SKIPPED


def test_one_request_a_row_runs_the_rows_in_parallel_and_keeps_their_order():
    calls = []

    async def infer(pipeline, encoded):
        calls.append(encoded["x"][0])
        await asyncio.sleep(0.1)
        return {}

    started = time.perf_counter()
    run = asyncio.run(run_branch(_pipeline(True), Echo(), ["a", "b", "c"], infer, 1.0))
    assert run.status is Status.OK and run.results == ["a", "b", "c"] and calls == [(1,)] * 3
    assert time.perf_counter() - started < 0.25  # three 100 ms calls side by side, not one after another
    run = asyncio.run(run_branch(_pipeline(False), Echo(), ["a", "b"], infer, 1.0))
    assert calls[-1] == (2,) and run.results == ["a", "b"]

"""Loans after origination: the window, the treatments policy, the ledger on both databases, and the live service
(statements scored through Triton, repeats, late months, bad input, the gRPC stream, the warning queue)."""

from __future__ import annotations

import csv
import math
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
import sqlalchemy as sa

from finfer.application.policy import PolicyError
from finfer.errors import Conflict, NotFound
from finfer.loans.treatments import DEFAULT_TREATMENTS, Situation, load_treatments, parse_treatments
from finfer.models.behaviour import reasons
from finfer.models.behaviour.features import FEATURE_NAMES, MONTHS, Statement, month_index, window
from finfer.models.behaviour.training.evaluation import WARNING_THRESHOLD
from finfer.store.database import migrate
from finfer.store.decisions import DecisionStore, Entry
from finfer.store.loans import Latest, Ledger, NewStatement, Scored
from finfer.wire import finfer_pb2, finfer_pb2_grpc
from tests.helpers import get, post

ORIGINATION = {"limit": 50_000.0, "age": 35, "education": 2}


def statement(month: int, status: int = 0, balance: float = 20_000.0, paid: float = 1_000.0) -> dict:
    """A statement of 2026-`month`."""
    return {
        "statement_id": f"s{month:02d}",
        "period": f"2026-{month:02d}",
        "balance": balance,
        "paid": paid,
        "status": status,
    }


HISTORY = [statement(1, 0), statement(2, 1, 30_000, 0), statement(3, 2, 35_000, 0), statement(4, 1, 34_000, 3_000)]

# ---- the math, without a server -------------------------------------------------------------------------------


def test_the_window_places_statements_by_calendar_month_whatever_their_order():
    months = {month_index(f"2026-{m:02d}"): Statement(balance=m * 100.0, paid=1.0, status=m % 3) for m in (2, 3, 5)}
    shuffled = list(months.items())
    random.Random(1).shuffle(shuffled)
    status, balance, _ = window(shuffled)
    # May is slot 0, April (no statement) unknown, then March and February; the rest never reached.
    assert balance[0] == 500.0 and math.isnan(balance[1]) and balance[2] == 300.0 and balance[3] == 200.0
    assert all(math.isnan(v) for v in balance[4:MONTHS]) and status[0] == 2
    np.testing.assert_array_equal(np.array(window(sorted(shuffled))), np.array(window(shuffled)))
    # A statement more than six months before the latest is outside the window.
    old = [(month_index("2025-01"), Statement(1.0, 1.0, 1)), (month_index("2026-01"), Statement(2.0, 2.0, 0))]
    assert window(old)[1][0] == 2.0 and all(math.isnan(v) for v in window(old)[1][1:])


def test_reason_groups_hold_every_feature_once_and_sum_its_contributions():
    assert reasons.AGGREGATION.shape == (len(FEATURE_NAMES), len(reasons.GROUPS))
    assert (reasons.AGGREGATION.sum(axis=1) == 1).all()
    rng = np.random.default_rng(0)
    features = rng.normal(size=(3, len(FEATURE_NAMES))).astype(np.float32)
    contributions = np.zeros((3, len(FEATURE_NAMES) + 1), dtype=np.float32)
    late = [FEATURE_NAMES.index(n) for n in ("status_1", "months_late")]
    contributions[0, late] = (0.25, 0.5)
    contributions[0, FEATURE_NAMES.index("limit")] = 0.125
    contributions[0, FEATURE_NAMES.index("age")] = -1.0  # lowers the risk: never a reason
    found = reasons.reason_codes(features, contributions, 4)
    assert list(found.feature[0]) == ["late_history", "limit", "", ""]
    assert found.contribution[0, 0] == pytest.approx(0.75)
    assert list(found.feature[1]) == ["", "", "", ""]


def test_the_default_treatments_policy_assigns_each_action():
    policy = load_treatments(DEFAULT_TREATMENTS)
    assert policy.band(0.05) == "low" and policy.band(0.3) == "warning" and policy.band(1.0) == "high"
    assert policy.warning_from() == WARNING_THRESHOLD  # the threshold the held-out figures are reported at

    def action(probability: float, status: int | None = 0, balance: float = 5_000.0, intent: str | None = None) -> str:
        return policy.treat(Situation(probability, status, balance, intent)).action

    assert action(0.05) == "none"
    assert action(0.05, status=3) == "collector"  # 90 days past due, whatever the score
    assert action(0.7, intent="overdue_negotiation") == "restructuring_offer"
    assert action(0.35, intent="overdue_negotiation") == "deferral_offer"
    assert action(0.05, intent="complaint") == "call"
    assert action(0.7, balance=5_000.0) == "call" and action(0.7, balance=0.0) == "reminder"
    assert action(0.2) == "reminder"


@pytest.mark.parametrize(
    "change, key",
    [
        ('warning_bands = ["warning", "high"]', None),
        ('warning_bands = ["red"]', "warning_bands"),
        (
            'warning_bands = ["high"]\n[[rules]]\naction = "call"\nreason = "x"\nintents = ["shouting"]',
            "rules.0.intents",
        ),
        ('warning_bands = ["high"]\n[[rules]]\naction = "email"\nreason = "x"', "rules.0.action"),
    ],
)
def test_a_treatments_policy_is_refused_with_the_key_at_fault(change: str, key: str | None):
    bands = '[[bands]]\nname = "warning"\nbelow = 0.5\n[[bands]]\nname = "high"\nbelow = 1.01\n'
    text = f'version = "t"\n{change.split(chr(10))[0]}\n{bands}' + "\n".join(change.split("\n")[1:])
    if key is None:
        assert parse_treatments(text).band(0.6) == "high"
        return
    with pytest.raises(PolicyError) as refused:
        parse_treatments(text)
    assert str(refused.value).startswith(f"{key}:")


def test_bands_must_rise_and_hold_probability_one():
    with pytest.raises(PolicyError, match="^bands: must rise"):
        parse_treatments(
            'version = "t"\nwarning_bands = ["a"]\n[[bands]]\nname = "a"\nbelow = 0.5\n'
            '[[bands]]\nname = "b"\nbelow = 0.4\n'
        )
    with pytest.raises(PolicyError, match="^bands: the last band"):
        parse_treatments('version = "t"\nwarning_bands = ["a"]\n[[bands]]\nname = "a"\nbelow = 0.5\n')


# ---- the ledger, on SQLite and PostgreSQL ---------------------------------------------------------------------


@pytest.fixture
def ledger(engine: sa.Engine) -> Ledger:
    """An empty ledger on each database (conftest's `engine`: SQLite, and a fresh PostgreSQL database)."""
    migrate(engine)
    return Ledger(engine)


def new(month: int, statement_id: str | None = None, balance: float = 100.0) -> NewStatement:
    period = f"2026-{month:02d}"
    return NewStatement(statement_id or f"s{month}", period, month_index(period), balance, 10.0, 0, None)


def test_a_loan_opens_once_and_its_statements_are_taken_once(ledger: Ledger):
    assert ledger.open("L-1", ORIGINATION)[0] is True
    assert ledger.open("L-1", dict(ORIGINATION))[0] is False  # the same again: nothing changes
    with pytest.raises(Conflict, match="other origination"):
        ledger.open("L-1", ORIGINATION | {"age": 36})
    first = ledger.take("L-1", new(3))
    assert not first.repeated and first.loan.revision == 1
    again = ledger.take("L-1", new(3))
    assert again.repeated and again.answer is None and again.loan.revision == 1
    with pytest.raises(Conflict, match="statement_id: s3 was taken for 2026-03 with other values"):
        ledger.take("L-1", new(3, balance=999.0))
    with pytest.raises(Conflict, match="period: 2026-03 already has the statement s3"):
        ledger.take("L-1", new(3, statement_id="other"))
    with pytest.raises(NotFound, match="loan_id: L-9 is not a known loan"):
        ledger.take("L-9", new(3))
    late = ledger.take("L-1", new(1))
    assert [s.period for s in late.loan.statements] == ["2026-01", "2026-03"] and late.loan.revision == 2


def test_scores_computed_before_another_statement_arrived_are_not_written(ledger: Ledger):
    ledger.open("L-2", ORIGINATION)
    taken = ledger.take("L-2", new(5))
    ledger.take("L-2", new(4))  # arrives while the first is being scored
    stale = [Scored("s5", 0.9, "call", '{"stale": true}')]
    assert not ledger.save("L-2", taken.loan.revision, stale, Latest("2026-05", 0.9, "high", "call"))
    assert ledger.loan("L-2").statements[1].probability is None  # nothing was written
    fresh = ledger.loan("L-2")
    scored = [Scored("s4", 0.1, "none", '{"first": 4}'), Scored("s5", 0.2, "none", '{"first": 5}')]
    assert ledger.save("L-2", fresh.revision, scored, Latest("2026-05", 0.2, "low", "none"))
    # A later write keeps each statement's first answer and updates its score.
    assert ledger.save(
        "L-2", fresh.revision, [Scored("s5", 0.3, "none", '{"second": 5}')], Latest("2026-05", 0.3, "watch", "none")
    )
    stored = {s.statement_id: s for s in ledger.loan("L-2").statements}
    assert stored["s5"].answer == '{"first": 5}' and stored["s5"].probability == 0.3
    assert ledger.in_bands(["watch"], 1, 10)[1] == 1 and ledger.in_bands(["high"], 1, 10)[1] == 0


# ---- the live service ------------------------------------------------------------------------------------------


def open_loan(front, loan_id: str, origination: dict = ORIGINATION) -> None:
    status, body = post(f"{front.http_url}/v1/loans", {"loan_id": loan_id, "origination": origination})
    assert status == 200, body


def send(front, loan_id: str, body: dict) -> tuple[int, dict]:
    return post(f"{front.http_url}/v1/loans/{loan_id}/statements", body)


def scores(front, loan_id: str) -> dict[str, float]:
    status, loan = get(f"{front.http_url}/v1/loans/{loan_id}")
    assert status == 200, loan
    return {s["period"]: s["probability_of_default"] for s in loan["statements"]}


def stateless(front, statements: list[dict]) -> float:
    body = {
        "origination": ORIGINATION,
        "statements": [{k: v for k, v in s.items() if k != "statement_id"} for s in statements],
    }
    status, answer = post(f"{front.http_url}/v1/loans/score", body)
    assert status == 200, answer
    return answer["probability_of_default"]


def test_each_statement_is_scored_with_the_history_up_to_it(front):
    open_loan(front, "live-1")
    before = stateless(front, [])
    for i, body in enumerate(HISTORY):
        status, update = send(front, "live-1", body)
        assert status == 200, update
        expected = stateless(front, HISTORY[: i + 1])
        assert update["probability_of_default"] == pytest.approx(expected, abs=1e-6)
        assert update["change"] == pytest.approx(expected - before, abs=1e-6)
        assert update["repeated"] is False and update["out_of_order"] is False
        assert update["treatment"]["action"] in {"none", "reminder", "call", "collector"}
        assert update["model_version"].startswith("behaviour-")
        before = expected
    late = [r for r in update["reasons"] if r["feature"] == "late_history"]
    assert late and late[0]["contribution"] > 0  # three late months raise the risk


def test_a_repeat_is_answered_as_the_first_time_and_changes_nothing(front):
    open_loan(front, "live-2")
    first = [send(front, "live-2", body)[1] for body in HISTORY[:2]]
    stored = scores(front, "live-2")
    status, again = send(front, "live-2", HISTORY[0])
    assert status == 200 and again == first[0] | {"repeated": True}
    assert scores(front, "live-2") == stored
    status, conflict = send(front, "live-2", HISTORY[0] | {"balance": 1.0})
    assert status == 409 and conflict["error"]["field"] == "statement_id"


def test_statements_in_any_order_with_repeats_under_load_equal_a_clean_replay(front):
    months = [statement(m, status=m % 3, balance=1_000.0 * m) for m in range(1, 10)]
    open_loan(front, "clean")
    for body in months:
        assert send(front, "clean", body)[0] == 200
    open_loan(front, "shuffled")
    sent = months + random.Random(7).sample(months, 5)
    random.Random(8).shuffle(sent)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda body: send(front, "shuffled", body), sent))
    assert all(status == 200 for status, _ in answers), answers
    assert any(a["out_of_order"] for _, a in answers)
    assert scores(front, "shuffled") == pytest.approx(scores(front, "clean"), abs=1e-9)


@pytest.mark.parametrize(
    "loan_id, change, field",
    [
        ("bad-input", {"balance": -1.0}, "balance"),
        ("bad-input", {"period": "2099-01"}, "period"),
        ("bad-input", {"period": "2026-13"}, "period"),
        ("bad-input", {"status": 10}, "status"),
        ("bad-input", {"message_intent": "shouting"}, "message_intent"),
        ("bad id!", {}, "loan_id"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_loses_nothing(front, loan_id: str, change: dict, field: str):
    if loan_id == "bad-input":
        open_loan(front, loan_id)
        send(front, loan_id, HISTORY[0])
    status, answer = send(front, loan_id.replace(" ", "%20"), HISTORY[1] | change)
    assert status == 400 and answer["error"]["field"] == field, answer
    if loan_id == "bad-input":
        assert list(scores(front, loan_id)) == ["2026-01"]


def test_a_statement_of_a_loan_never_opened_is_a_404_naming_the_loan(front):
    # The loan is the resource the path names: not found, as GET /v1/loans/{loan_id} answers it.
    status, answer = send(front, "nobody", HISTORY[0])
    assert status == 404 and answer["error"]["field"] == "loan_id", answer
    assert "open it first" in answer["error"]["message"]


def test_the_grpc_stream_answers_each_statement_in_order(front):
    open_loan(front, "stream-1")
    with grpc.insecure_channel(front.grpc_target) as channel:
        stub = finfer_pb2_grpc.LoanMonitoringStub(channel)
        opened = stub.Open(
            finfer_pb2.OpenLoanRequest(loan_id="stream-2", origination=finfer_pb2.LoanOrigination(**ORIGINATION))
        )
        assert opened.created
        requests = []
        for body in HISTORY:
            for loan_id in ("stream-1", "stream-2"):
                month = finfer_pb2.LoanStatement(**{k: body[k] for k in ("period", "balance", "paid", "status")})
                requests.append(
                    finfer_pb2.StatementRequest(loan_id=loan_id, statement_id=body["statement_id"], statement=month)
                )
        bad = finfer_pb2.StatementRequest(loan_id="nobody", statement_id="x", statement=requests[0].statement)
        updates = list(stub.Stream(iter([*requests[:3], bad, *requests[3:]]), timeout=60))
    assert [(u.loan_id, u.statement_id) for u in updates] == [
        (r.loan_id, r.statement_id) for r in [*requests[:3], bad, *requests[3:]]
    ]
    refused = updates[3]
    assert refused.error.code == "not_found" and refused.error.field == "loan_id"
    both = [u for u in updates if not u.error.code]
    assert all(u.treatment.action and u.model_version for u in both)
    assert scores(front, "stream-1") == pytest.approx(scores(front, "stream-2"), abs=1e-9)
    assert both[-1].probability_of_default == pytest.approx(stateless(front, HISTORY), abs=1e-6)


def test_a_loan_whose_score_crosses_the_warning_band_is_in_the_queue(front):
    open_loan(front, "warned")
    for month in range(1, 7):
        status, update = send(front, "warned", statement(month, status=min(month, 3), balance=49_000.0, paid=0.0))
        assert status == 200
    assert update["treatment"]["band"] in {"warning", "high"}
    status, queue = get(f"{front.http_url}/v1/loans/warnings")
    assert status == 200 and queue["bands"] == ["warning", "high"]
    listed = {loan["loan_id"]: loan for loan in queue["loans"]}
    assert listed["warned"]["latest_period"] == "2026-06"
    assert listed["warned"]["probability"] == pytest.approx(update["probability_of_default"])
    assert get(f"{front.http_url}/v1/loans/warnings?band=low")[0] == 400
    status, only = get(f"{front.http_url}/v1/loans/warnings?band={update['treatment']['band']}")
    assert status == 200 and "warned" in {loan["loan_id"] for loan in only["loans"]}


def test_a_batch_of_statements_is_taken_at_once_each_answered_or_refused_on_its_own(front):
    for loan_id in ("batch-1", "batch-2"):
        open_loan(front, loan_id)
    items = [
        {"loan_id": "batch-1", **HISTORY[0]},
        {"loan_id": "batch-2", **HISTORY[0]},
        {"loan_id": "batch-1", **HISTORY[1]},
        {"loan_id": "batch-2", **HISTORY[1] | {"statement_id": "other", "period": "2026-01"}},  # 2026-01 is taken
        {"loan_id": "nobody", **HISTORY[0]},
        {"loan_id": "batch-1", **HISTORY[0]},  # the same statement twice in one batch
    ]
    bad = [*items[:3], {"loan_id": "batch-2", **HISTORY[1] | {"balance": -5.0}}]
    status, answer = post(f"{front.http_url}/v1/loans/statements:batch", {"statements": bad})
    assert status == 400 and answer["error"]["field"] == "statements[3].balance", answer
    assert get(f"{front.http_url}/v1/loans/batch-1")[1]["statements"] == []  # bad input: nothing was taken
    status, answer = post(f"{front.http_url}/v1/loans/statements:batch", {"statements": items})
    assert status == 200, answer
    results = answer["results"]
    assert [r.get("statement_id") for r in results[:3]] == ["s01", "s01", "s02"]
    assert results[3]["error"]["code"] == "conflict" and results[3]["error"]["field"] == "statements[3].period"
    assert results[4]["error"]["code"] == "not_found" and results[4]["error"]["field"] == "statements[4].loan_id"
    assert results[5]["repeated"] is True
    assert results[5]["probability_of_default"] == results[0]["probability_of_default"]
    assert results[2]["probability_of_default"] == pytest.approx(stateless(front, HISTORY[:2]), abs=1e-6)
    assert results[1]["probability_of_default"] == pytest.approx(stateless(front, HISTORY[:1]), abs=1e-6)
    late = {"loan_id": "batch-2", **HISTORY[2]}, {"loan_id": "batch-2", **HISTORY[1]}
    status, answer = post(f"{front.http_url}/v1/loans/statements:batch", {"statements": list(late)})
    assert status == 200 and [r["out_of_order"] for r in answer["results"]] == [False, True]
    assert scores(front, "batch-2")["2026-03"] == pytest.approx(stateless(front, HISTORY[:3]), abs=1e-6)


def test_a_portfolio_rescore_writes_every_score_and_a_second_run_changes_nothing(front, tmp_path):
    lines = ["loan_id,statement_id,period,balance,paid,status,limit,age,education"]
    for loan in range(3):
        for body in HISTORY:
            lines.append(
                f"rescore-{loan},{body['statement_id']},{body['period']},{body['balance'] + loan},"
                f"{body['paid']},{body['status']},50000,{35 + loan},2"
            )
    lines.append("nobody,x1,2026-01,1,1,0,,,")  # no origination, and never opened
    lines.append("rescore-2,bad,2026-05,-1,0,0,50000,37,2")  # a negative balance: refused alone
    (tmp_path / "statements.csv").write_text("\n".join(lines) + "\n")

    def run(out: str) -> list[dict]:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "finfer.cli",
                "loans",
                "rescore",
                "--file",
                str(tmp_path / "statements.csv"),
                "--url",
                front.http_url,
                "--out",
                str(tmp_path / out),
                "--batch",
                "5",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 1, done.stderr  # one statement refused
        assert "12 statements scored, 2 refused" in done.stdout, done.stdout
        with (tmp_path / out).open() as handle:
            return list(csv.DictReader(handle))

    first, second = run("first.csv"), run("second.csv")
    assert [r["period"] for r in first if r["loan_id"] == "rescore-0"] == [b["period"] for b in HISTORY]
    assert {r["repeated"] for r in second if not r["error"]} == {"true"}
    drop = ("repeated",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in first] == [
        {k: v for k, v in r.items() if k not in drop} for r in second
    ]
    refused = [r for r in first if r["error"]]
    assert [r["loan_id"] for r in refused] == ["nobody", "rescore-2"]
    assert "not a known loan" in refused[0]["error"] and "balance" in refused[1]["error"]
    last = [r for r in first if r["loan_id"] == "rescore-1"][-1]
    assert float(last["probability_of_default"]) == pytest.approx(scores(front, "rescore-1")["2026-04"], abs=1e-6)


def test_a_loan_opened_from_an_approved_application_keeps_its_score_and_credit_file(front):
    from finfer.application.examples import applications

    for body in applications(60, seed=9100, shape="plain"):
        application_id = body["application_id"]
        # An application may name the loan its approval opens.
        status, answer = post(f"{front.http_url}/v1/applications", body | {"loan_id": f"auto-{application_id}"})
        assert status == 200, answer
        status, auto = get(f"{front.http_url}/v1/loans/auto-{application_id}")
        if answer["decision"] != "approve":
            assert status == 404, auto
            continue
        assert status == 200 and auto["application"]["application_id"] == application_id, auto
        _, record = get(f"{front.http_url}/v1/applications/{application_id}")
        assert (
            record["loan"]
            == record["decision"]["loan"]
            == {
                "loan_id": f"auto-{application_id}",
                "opened": True,
                "created": True,
                "opened_at": auto["opened_at"],
            }
        )
        status, opened = post(
            f"{front.http_url}/v1/loans", {"loan_id": f"from-{application_id}", "application_id": application_id}
        )
        assert status == 200 and opened["created"], opened
        _, loan = get(f"{front.http_url}/v1/loans/from-{application_id}")
        kept = loan["application"]
        assert kept["application_id"] == application_id
        assert kept["score"] == pytest.approx(answer["risk"]["probability_of_default"])
        assert kept["credit_file"]["age_in_years"] == body["applicant"]["age_in_years"] == loan["origination"]["age"]
        assert loan["origination"]["limit"] == body["declared"].get("amount", body["applicant"]["credit_amount"])
        assert send(front, f"from-{application_id}", HISTORY[0])[0] == 200
        break
    else:
        pytest.fail("none of 60 applications was approved")
    for body in applications(60, seed=9200, shape="plain"):
        status, answer = post(f"{front.http_url}/v1/applications", body)
        if answer["decision"] != "approve":
            status, refused = post(
                f"{front.http_url}/v1/loans", {"loan_id": "never", "application_id": body["application_id"]}
            )
            assert status == 409 and refused["error"]["field"] == "application_id", refused
            break
    status, refused = post(
        f"{front.http_url}/v1/loans", {"loan_id": "never", "origination": ORIGINATION, "application_id": "A-1"}
    )
    assert status == 400 and "either" in refused["error"]["message"]
    assert post(f"{front.http_url}/v1/loans", {"loan_id": "never", "application_id": "no-such"})[0] == 404
    status, refused = post(f"{front.http_url}/v1/applications", body | {"loan_id": "not a loan id"})
    assert status == 400 and refused["error"]["field"] == "loan_id", refused


def approval(application_id: str, decision: str, loan_id: str | None, age: object = 41) -> Entry:
    """A decision record as the front writes it (store/application_record.py), the fields a loan reads."""
    body = {
        "application_id": application_id,
        "decision": decision,
        "reasons": [{"code": "RISK_BAND_REVIEW"}] if decision == "review" else [],
        "credit_file": {"age_in_years": age, "credit_amount": 8_000},
        "declared": {"amount": 12_000.0},
        "results": {"risk": {"probability_of_default": 0.12}},
    }
    return Entry.new("decision", application_id, body | ({"loan_id": loan_id} if loan_id else {}))


def test_an_approval_opens_the_loan_its_application_names_with_the_record(ledger: Ledger):
    store = DecisionStore(ledger.engine)
    store.append(
        [
            approval("A-1", "approve", "L-A1"),
            approval("A-2", "decline", "L-A2"),
            approval("A-3", "review", "L-A3"),
            approval("A-4", "approve", "L-A1"),  # another application names a loan already open
            approval("A-5", "approve", "L-A5", age=None),  # nothing to open it with
            approval("A-6", "approve", None),
        ]
    )
    loan = ledger.loan("L-A1")
    assert loan.origination == {"limit": 12_000.0, "age": 41, "education": 0}
    assert loan.application is not None and loan.application.application_id == "A-1"
    assert loan.application.score == 0.12 and loan.application.credit_file["credit_amount"] == 8_000
    assert store.application("A-1")["loan"] == {
        "loan_id": "L-A1",
        "opened": True,
        "created": True,
        "opened_at": loan.opened_at,
    }
    for never in ("L-A2", "L-A3", "L-A5"):
        with pytest.raises(NotFound):
            ledger.loan(never)
    assert store.application("A-2")["loan"] is None and store.application("A-6")["loan"] is None
    refused = store.application("A-4")["loan"]
    assert refused["opened"] is False and "L-A1 is already open" in refused["why"]
    assert store.application("A-5")["loan"] == {
        "loan_id": "L-A5",
        "opened": False,
        "why": "the credit file names no age (18 to 120) or amount",
    }
    # The same decision recorded again (a spool drained twice, a repeat) changes nothing.
    store.append([approval("A-1", "approve", "L-A1")])
    assert store.application("A-1")["loan"]["created"] is False and ledger.loan("L-A1").opened_at == loan.opened_at
    # Recorded while the database was away: the spool's drain writes the approval, and opens its loan with it.
    store.append([approval("A-7", "approve", "L-A7")], from_spool=True)
    assert ledger.loan("L-A7").application.application_id == "A-7"  # type: ignore[union-attr]
    # A reviewer's approval opens it; a decline would not.
    (case,) = store.cases("open", None, 1, 10)[0]
    store.claim(case["case_id"], "ana")
    store.resolve(case["case_id"], "ana", "approve", "income checked")
    assert ledger.loan("L-A3").application.application_id == "A-3"  # type: ignore[union-attr]
    record = store.application("A-3")
    assert record["final_decision"] == "approve" and record["loan"]["opened"] is True

"""The decision store on both databases, without a server: migrations, the chain, the review queue, the spool's
idempotent drain, keys, and labels that train the risk model."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from finfer import paths
from finfer.access import keys
from finfer.errors import Conflict, InvalidArgument, NotFound
from finfer.settings import Split
from finfer.store import schema, splits
from finfer.store.database import migrate, schema_version
from finfer.store.decisions import DecisionStore, Entry
from finfer.store.labels import POSITIVE, TARGET, export_labels
from finfer.store.loans import Ledger
from finfer.store.spool import Spool, SpoolFull


def decision(application_id: str, verdict: str = "review", codes: tuple[str, ...] = ("RISK_REVIEW",), **credit):
    reasons = [{"code": code, "text": code.lower(), "source": "risk"} for code in codes]
    return Entry.new(
        "decision",
        application_id,
        {"application_id": application_id, "decision": verdict, "reasons": reasons, "credit_file": credit},
    )


def test_migrations_from_empty_reach_the_latest_version_once(engine: sa.Engine) -> None:
    assert migrate(engine) == schema.LATEST
    assert migrate(engine) == schema.LATEST  # a second start changes nothing
    tables = set(sa.inspect(engine).get_table_names())
    assert {"records", "chain_head", "cases", "api_keys", "splits", "loans", "statements", "schema_version"} <= tables


def test_migration_from_the_previous_version_keeps_the_records(engine: sa.Engine) -> None:
    assert migrate(engine, target=schema.LATEST - 1) == schema.LATEST - 1
    assert "loans" not in sa.inspect(engine).get_table_names()
    DecisionStore(engine).append([decision("A-1")])
    keys.create(engine, "before-upgrade", ["risk"])
    splits.write(engine, "fraud", Split(weights={"1": 1}))
    assert migrate(engine) == schema.LATEST
    store = DecisionStore(engine)
    assert store.application("A-1")["decision"]["decision"] == "review"
    assert [k.name for k in keys.listed(engine)] == ["before-upgrade"]
    splits.write(engine, "risk", Split(weights={"1": 9, "2": 1}))
    assert splits.read_all(engine)["risk"].split.by_version == {1: 9, 2: 1}
    assert splits.read_all(engine)["fraud"].split.by_version == {1: 1}
    assert Ledger(engine).open("L-1", {"limit": 1000.0, "age": 30, "education": 2})[0]
    assert store.verify() == (1, None)


def test_a_rollback_sets_only_the_candidate_to_zero_in_the_split_as_stored(engine: sa.Engine) -> None:
    migrate(engine)
    served = Split(weights={"1": 50, "2": 50})
    first = splits.roll_back(engine, "risk", 2, "error rate", served)  # nothing stored yet: this front's split
    assert first is not None and first.split.by_version == {1: 50, 2: 0}
    assert first.cause == {"kind": "rollback", "version": 2, "reason": "error rate"}
    assert splits.roll_back(engine, "risk", 2, "again", served) is None  # already at 0: nothing written
    put = splits.write(engine, "risk", Split(weights={"1": 10, "2": 10, "3": 80}))
    assert put.revision != first.revision and put.cause == {"kind": "put"}
    later = splits.roll_back(engine, "risk", 3, "slow", served)  # over the PUT, not over this front's split
    assert later is not None and later.split.by_version == {1: 10, 2: 10, 3: 0}
    only = splits.write(engine, "risk", Split(weights={"2": 1}))
    assert splits.roll_back(engine, "risk", 2, "stale", served) is None  # now the only version: not a candidate
    assert splits.read_all(engine)["risk"].revision == only.revision


def test_a_newer_schema_is_refused(engine: sa.Engine) -> None:
    migrate(engine)
    with engine.begin() as connection:
        connection.execute(schema.SCHEMA_VERSION.update().values(version=schema.LATEST + 1))
    with pytest.raises(RuntimeError, match="newer than this finfer"):
        migrate(engine)
    with engine.connect() as connection:
        assert schema_version(connection) == schema.LATEST + 1


def test_the_review_queue(engine: sa.Engine) -> None:
    migrate(engine)
    store = DecisionStore(engine)
    store.append([decision("A-1"), decision("A-2", "approve"), decision("A-3", codes=("FRAUD_REVIEW",))])
    store.append([decision(f"B-{i}") for i in range(5)])
    cases, total = store.cases()
    assert total == 7 and [c["application_id"] for c in cases[:2]] == ["A-1", "A-3"]  # oldest first
    assert [c["application_id"] for c in store.cases(reason="FRAUD_REVIEW")[0]] == ["A-3"]
    page2, _ = store.cases(page=2, page_size=3)
    assert [c["application_id"] for c in page2] == ["B-1", "B-2", "B-3"]
    first = cases[0]["case_id"]

    with pytest.raises(Conflict, match="must be claimed"):
        store.resolve(first, "ann", "approve", "")
    assert store.claim(first, "ann")["claimed_by"] == "ann"
    assert store.claim(first, "ann")["status"] == "claimed"  # again by the same reviewer: nothing changes
    with pytest.raises(Conflict, match="claimed by ann"):
        store.claim(first, "bob")
    with pytest.raises(Conflict, match="claimed by ann"):
        store.resolve(first, "bob", "decline", "")
    assert first not in [c["case_id"] for c in store.cases()[0]]  # a claimed case is handed to nobody else
    resolved = store.resolve(first, "ann", "decline", "income not verified")
    assert (resolved["status"], resolved["outcome"], resolved["resolved_by"]) == ("resolved", "decline", "ann")
    with pytest.raises(Conflict, match="already resolved"):
        store.resolve(first, "ann", "approve", "")
    with pytest.raises(NotFound):
        store.claim(10_000, "ann")

    record = store.application("A-1")
    assert record["final_decision"] == "decline"
    assert [(s["kind"], s["by"], s["what"]) for s in record["trail"]] == [
        ("decision", "finfer", "review"),
        ("claim", "ann", "claim"),
        ("review", "ann", "decline"),
    ]
    assert store.application("A-2")["case"] is None
    with pytest.raises(NotFound):
        store.application("nobody")
    assert store.verify()[1] is None


def test_an_application_evaluated_again_keeps_one_unresolved_case(engine: sa.Engine) -> None:
    migrate(engine)
    store = DecisionStore(engine)
    store.append([decision("A-1", codes=("RISK_REVIEW",))])
    store.append([decision("A-1", codes=("FRAUD_REVIEW",))])
    (case,), total = store.cases()
    assert total == 1 and case["reasons"] == ["FRAUD_REVIEW"]
    store.claim(case["case_id"], "ann")
    store.resolve(case["case_id"], "ann", "approve", "")
    store.append([decision("A-1")])
    assert store.cases()[1] == 1  # resolved, then referred again: a new case


def test_a_spool_drained_twice_adds_each_record_once(engine: sa.Engine) -> None:
    migrate(engine)
    store = DecisionStore(engine)
    entries = [decision(f"A-{i}", "approve") for i in range(3)]
    assert store.append(entries) == 3
    assert store.append(entries, from_spool=True) == 0
    assert store.verify() == (3, None)


def _tamper(engine: sa.Engine, sql: str) -> None:
    with engine.begin() as connection:
        for statement in sql.split(";"):
            connection.execute(sa.text(statement))


@pytest.mark.parametrize(
    ("tampering", "seq", "problem"),
    [
        ("UPDATE records SET body = replace(body, 'review', 'approve') WHERE seq = 3", 3, "was changed"),
        ("DELETE FROM records WHERE seq = 3", 3, "is missing"),
        # Swap records 3 and 4 whole (content, digests and links), keeping the numbering.
        (
            "UPDATE records SET seq = -3 WHERE seq = 3; UPDATE records SET seq = 3 WHERE seq = 4;"
            "UPDATE records SET seq = 4 WHERE seq = -3",
            3,
            "does not follow",
        ),
        ("DELETE FROM records WHERE seq = 6", 6, "is missing"),  # the last one: the head still names it
    ],
    ids=["edited", "deleted", "swapped", "last-deleted"],
)
def test_the_chain_names_the_first_record_tampered_with(
    engine: sa.Engine, tampering: str, seq: int, problem: str
) -> None:
    migrate(engine)
    store = DecisionStore(engine)
    store.append([decision(f"A-{i}") for i in range(6)])
    assert store.verify() == (6, None)
    _tamper(engine, tampering)
    checked, broken = store.verify()
    assert broken is not None and broken.seq == seq and problem in broken.problem, broken
    assert checked == seq - 1


def test_the_spool_is_bounded_and_ordered(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool" / "records.jsonl", max_records=4)
    entries = [decision(f"A-{i}") for i in range(4)]
    spool.append(entries[:3])
    with pytest.raises(SpoolFull):
        spool.append(entries[3:] + entries[:1])
    assert len(spool) == 3  # all or nothing
    spool.drop(2)
    assert [e.application_id for e in spool.peek(10)] == ["A-2"]
    assert len(Spool(spool.path, 4)) == 1  # a restart sees what is left


def test_keys_are_stored_as_hashes_and_revoked_by_id(engine: sa.Engine) -> None:
    migrate(engine)
    record, token = keys.create(engine, "dealer-7", ["risk", "applications"], rate_per_s=5)
    key_id, secret = keys.parse(token)
    assert key_id == record.key_id and record.burst == 5
    with engine.connect() as connection:
        stored = " ".join(str(v) for row in connection.execute(sa.select(schema.API_KEYS)) for v in row)
    assert secret not in stored and keys.secret_digest(secret) in stored
    assert set(keys.active(engine)) == {key_id}
    assert keys.revoke(engine, key_id).revoked_at is not None
    assert keys.active(engine) == {} and len(keys.listed(engine)) == 1
    with pytest.raises(NotFound):
        keys.revoke(engine, "000000000000")
    with pytest.raises(InvalidArgument, match="scopes: everything"):
        keys.create(engine, "x", ["everything"])
    with pytest.raises(InvalidArgument, match="name"):
        keys.create(engine, "has space", ["risk"])


def test_exported_labels_train_the_risk_model(engine: sa.Engine, tmp_path: Path) -> None:
    """Reviewers' outcomes (here: the German credit data's own labels, as a careful reviewer would give) come out
    as a CSV that `finfer build --csv` trains on; the model it builds ranks held-out rows better than chance."""
    from finfer.exporters.base import BuildOptions, Profile, export
    from finfer.exporters.risk import RiskExporter

    migrate(engine)
    store = DecisionStore(engine)
    with paths.GERMAN_CREDIT_CSV.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[:400]
    store.append(
        [decision(f"G-{i}", **{k: v for k, v in row.items() if k != "creditability"}) for i, row in enumerate(rows)]
    )
    cases, _ = store.cases(page_size=100)
    while cases:
        for case in cases:
            label = rows[int(case["application_id"][2:])]["creditability"]
            store.claim(case["case_id"], "ann")
            store.resolve(case["case_id"], "ann", POSITIVE if label == "bad" else "approve", "")
        cases, _ = store.cases(page_size=100)
    out = tmp_path / "labels.csv"
    assert export_labels(store, "2000-01-01", out) == 400
    assert export_labels(store, "2999-01-01", tmp_path / "none.csv") == 0
    with out.open(encoding="utf-8") as handle:
        exported = list(csv.DictReader(handle))
    assert {r[TARGET] for r in exported} == {"approve", "decline"}

    repository = tmp_path / "repository"
    export(RiskExporter(out, TARGET, POSITIVE), BuildOptions(out=repository, profile=Profile.SMALL), lambda _: None)
    metrics = json.loads((repository / "risk_model" / "metrics.json").read_text())
    assert metrics["quality"]["cv_roc_auc"] > 0.65, metrics  # out-of-fold: rows the fold's model did not see
    assert metrics["trained_on"] == {"data": "labels.csv", "positive_label": POSITIVE, "rows": 400, "target": TARGET}
    shutil.rmtree(repository)


def test_reviewers_racing_for_a_case_get_it_once(engine: sa.Engine) -> None:
    """Eight reviewers claim the same case at once (eight connections): one gets it, seven are told who did."""
    from concurrent.futures import ThreadPoolExecutor

    migrate(engine)
    store = DecisionStore(engine)
    store.append([decision("A-race")])
    ((case,), _) = store.cases()

    def claim(reviewer: str) -> str:
        try:
            return store.claim(case["case_id"], reviewer)["claimed_by"]
        except Conflict as refused:
            return refused.message

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(claim, [f"reviewer-{i}" for i in range(8)]))
    winners = [a for a in answers if a.startswith("reviewer-")]
    assert len(winners) == 1
    assert all(a == f"case_id: case {case['case_id']} is claimed by {winners[0]}" for a in answers if a not in winners)
    assert [s["kind"] for s in store.application("A-race")["trail"]] == ["decision", "claim"]
    assert store.verify()[1] is None


def test_cases_claimed_by_one_reviewer(engine: sa.Engine) -> None:
    migrate(engine)
    store = DecisionStore(engine)
    store.append([decision(f"A-{i}") for i in range(3)])
    first, second, _ = store.cases()[0]
    store.claim(first["case_id"], "ann")
    store.claim(second["case_id"], "bob")
    mine, total = store.cases("claimed", claimed_by="ann")
    assert total == 1 and [c["case_id"] for c in mine] == [first["case_id"]]

"""The behaviour family's versions, as risk's (tests/test_versions.py): a candidate retrained on other outcomes
(`finfer build --family behaviour --version 2 --behaviour-csv …`) shadows the served one. Every statement is
answered by version 1, its copy is compared on version 2, and the loans' stored scores are version 1's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from finfer import paths
from finfer.exporters.base import BuildOptions, Profile, export
from finfer.exporters.behaviour import BehaviourExporter
from finfer.loadtest import stack
from finfer.loadtest.versions_bench import relabelled
from finfer.models.behaviour.training.cards import example_loans
from finfer.pipelines import behaviour
from finfer.settings import Settings, Split
from tests.conftest import front_of, wait_until
from tests.helpers import get, metric, post


@pytest.fixture(scope="module")
def versioned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A Triton of its own serving behaviour version 1, and version 2 trained with a fifth of the outcomes flipped."""
    repository = tmp_path_factory.mktemp("behaviour_versions")
    quiet = lambda _: None  # noqa: E731
    export(BehaviourExporter(), BuildOptions(out=repository, profile=Profile.SMALL), quiet)
    flipped = relabelled(
        paths.TAIWAN_CARDS_CSV,
        tmp_path_factory.mktemp("data") / "cards-relabelled.csv",
        share=0.2,
        column="default_next_month",
        values=("0", "1"),
    )
    export(BehaviourExporter(flipped), BuildOptions(out=repository, profile=Profile.SMALL, version=2), quiet)
    settings = stack.bench_settings(repository, tmp_path_factory.mktemp("behaviour_state")).model_copy(
        update={"probe_interval_s": 0, "triton_exit_timeout_s": 1}
    )
    with stack.triton(settings):
        yield settings


def test_a_candidate_trained_on_other_outcomes_is_a_version_of_its_own(versioned: Settings) -> None:
    one, two = (behaviour.PIPELINE.load(versioned.model_repository, v).model_version for v in (1, 2))
    assert one != two
    card = json.loads((versioned.model_repository / "behaviour_model" / "metrics.json").read_text())
    assert card["trained_on"]["data"] == "taiwan_credit_card_default.csv", "version 1's card is the shipped data's"


def test_a_behaviour_shadow_compares_every_statement_and_never_changes_the_answer(
    versioned: Settings, tmp_path: Path
) -> None:
    names = {v: behaviour.PIPELINE.load(versioned.model_repository, v).model_version for v in (1, 2)}
    shadowed = {"splits": {"behaviour": Split(weights={"1": 1}, shadow=2)}, "shadow_timeout_s": 5.0}
    with front_of(versioned, tmp_path, **shadowed) as own:
        url = f"http://127.0.0.1:{own.http_port}"
        loans = example_loans(12, seed=21)
        # Stateless scores, and the same loans' months sent one by one to the store.
        answers = [post(f"{url}/v1/loans/score", loan) for loan in loans]
        assert {(status, a["model_version"]) for status, a in answers} == {(200, names[1])}
        sent = 0
        for i, loan in enumerate(loans):
            status, body = post(f"{url}/v1/loans", {"loan_id": f"shadowed-{i}", "origination": loan["origination"]})
            assert status == 200, body
            for month, statement in enumerate(loan["statements"]):
                body = {**statement, "statement_id": f"s{month}"}
                status, answer = post(f"{url}/v1/loans/shadowed-{i}/statements", body)
                assert (status, answer.get("model_version")) == (200, names[1]), answer
                sent += 1
        # The last statement's stored score is the stateless one's: version 1's, not the shadow's.
        for i, (loan, (_, stateless)) in enumerate(zip(loans, answers, strict=True)):
            if loan["statements"]:
                stored = get(f"{url}/v1/loans/shadowed-{i}")[1]["statements"][-1]["probability_of_default"]
                assert stored == pytest.approx(stateless["probability_of_default"], abs=1e-6)

        def compared(count: int) -> bool:
            return metric(f"{url}/metrics", "finfer_comparison_calls_total", version="2", result="compared") >= count

        # A statement is scored with the window of every month up to it, and each of those rows is copied.
        wait_until(lambda: compared(len(loans) + sent), 15, "every copy compared")
        state = get(f"{url}/v1/admin/versions")[1]["behaviour"]
        assert state["shadow"] == 2
        assert state["disagreements"], "a model trained on a fifth of the outcomes flipped moves some scores by 0.05"
        first = state["disagreements"][0]
        assert (first["answered_by"], first["compared_with"]) == (1, 2) and first["answer"] != first["other"]

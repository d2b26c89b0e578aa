"""The behaviour score's math: a loan's history as features, and the model's quality on held-out loans."""

from __future__ import annotations

import math

import numpy as np
import pytest

from finfer.models.behaviour.features import FEATURE_NAMES, MONTHS, Origination, Statement, encode
from finfer.models.behaviour.training import cards as card_data
from finfer.models.behaviour.training.model import PARAMS, held_out, split, train

OPENED = Origination(limit=50_000, age=35, education=2)


def named(row: np.ndarray) -> dict[str, float]:
    return dict(zip(FEATURE_NAMES, row.tolist(), strict=True))


def test_a_new_loan_knows_only_its_origination():
    row = named(encode(OPENED, []))
    assert row["limit"] == 50_000 and row["months_known"] == 0
    assert all(math.isnan(row[f"status_{slot}"]) for slot in range(MONTHS))
    assert math.isnan(row["worst_status"]) and math.isnan(row["months_late"])


def test_the_most_recent_statement_is_slot_0_and_only_the_last_six_count():
    statements = [Statement(balance=10_000 * (i + 1), paid=1_000, status=i - 2) for i in range(8)]
    row = named(encode(OPENED, statements))
    assert row["months_known"] == 6
    assert row["status_0"] == 5 and row["status_5"] == 0  # the last statement first, the 8th and 3rd
    assert row["utilisation_0"] == pytest.approx(80_000 / 50_000)
    # Paid this month against what the month before asked for.
    assert row["paid_share_0"] == pytest.approx(1_000 / 70_000)
    assert math.isnan(row["paid_share_5"])  # the month before the window is not known
    assert row["worst_status"] == 5 and row["months_late"] == 5  # statuses 1 to 5
    assert row["mean_status"] == pytest.approx(sum(range(0, 6)) / 6)


def test_training_encodes_a_history_as_serving_does():
    cards = card_data.load()
    three = cards.history(3)
    for loan in (0, 1, 7):
        statements = [
            Statement(cards.balance[loan, m], cards.paid[loan, m], int(cards.status[loan, m])) for m in range(3)
        ]
        origination = Origination(cards.limit[loan], int(cards.age[loan]), int(cards.education[loan]))
        np.testing.assert_array_equal(three[loan], encode(origination, statements))


def test_history_makes_the_held_out_scores_better():
    """Small profile, held-out 30%: each month known ranks defaulters better, and six months come within a
    point of the data's reference (0.77 ROC AUC)."""
    train_set, test_set = split(card_data.load())
    assert len(test_set) == 8_100 and test_set.defaulted.mean() == pytest.approx(0.221, abs=0.001)
    report = held_out(train(train_set, PARAMS["small"]), test_set, warning_threshold=0.5)
    auc = {months: h["roc_auc"] for months, h in report["horizons"].items()}
    assert auc[0] < auc[1] < auc[3] < auc[6], auc
    assert auc[6] >= 0.76, auc
    assert report["warning_band"]["precision"] > 2 * report["base_rate"], report["warning_band"]

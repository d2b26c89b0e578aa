"""The risk family's plain functions, without a server."""

import numpy as np
import pytest

from finfer.models.risk import scoring as risk


@pytest.fixture()
def schema() -> risk.FeatureSchema:
    rows = [
        {"amount": "100", "age": "30", "housing": "own", "job": "a", "y": "good"},
        {"amount": "250", "age": "41", "housing": "rent", "job": "b", "y": "bad"},
        {"amount": "75", "age": "-1", "housing": "free", "job": "a", "y": "good"},
    ]
    return risk.infer_schema(rows, "y", "bad")


def test_infer_schema_splits_numbers_from_categories(schema):
    assert schema.numeric == ("amount", "age")
    assert schema.categorical == {"housing": ("free", "own", "rent"), "job": ("a", "b")}
    # age was negative in training, so it gets no lower bound; amount never was.
    assert schema.numeric_minimum == {"amount": 0.0}
    assert schema.n_features == 2 + 3 + 2


def test_infer_schema_rejects_unknown_target_and_label():
    rows = [{"x": "1", "y": "good"}]
    with pytest.raises(ValueError, match="target column 'z'"):
        risk.infer_schema(rows, "z", "bad")
    with pytest.raises(ValueError, match="positive label 'bad'"):
        risk.infer_schema(rows, "y", "bad")


def test_encode_one_hot_layout(schema):
    categorical = np.array([[b"rent", b"a"], ["free", "b"]], dtype=object)
    numeric = np.array([[100, 30], [5, 60]], dtype=np.float32)
    features = risk.encode(schema, categorical, numeric)
    assert features.dtype == np.float32
    assert features.tolist() == [
        [100, 30, 0, 0, 1, 1, 0],
        [5, 60, 1, 0, 0, 0, 1],
    ]
    assert list(schema.feature_names) == [
        "amount",
        "age",
        "housing=free",
        "housing=own",
        "housing=rent",
        "job=a",
        "job=b",
    ]


@pytest.mark.parametrize(
    ("categorical", "numeric", "field", "message"),
    [
        ([b"castle", b"a"], [1, 1], "housing", "unknown value 'castle'"),
        ([b"own", b"a"], [-5, 1], "amount", "must be >= 0"),
        ([b"own", b"a"], [np.nan, 1], "amount", "finite"),
        ([b"own", b"a"], [1, np.inf], "age", "finite"),
    ],
)
def test_encode_names_the_bad_field(schema, categorical, numeric, field, message):
    with pytest.raises(risk.EncodingError, match=message) as info:
        risk.encode(schema, np.array([categorical], dtype=object), np.array([numeric], dtype=np.float32))
    assert info.value.field == field


def test_encode_rejects_wrong_column_count(schema):
    with pytest.raises(risk.EncodingError, match="expected 2 categorical and 2 numeric"):
        risk.encode(schema, np.array([[b"own"]], dtype=object), np.array([[1, 2]], dtype=np.float32))


def test_aggregation_matrix_sums_one_hot_blocks(schema):
    matrix = risk.aggregation_matrix(schema)
    assert matrix.shape == (7, 4)
    assert matrix.sum(axis=0).tolist() == [1, 1, 3, 2]
    assert matrix.sum(axis=1).tolist() == [1] * 7


def test_grade_bounds():
    schema = risk.FeatureSchema("y", "bad", {}, (), {}, grades=(("A", 0.1), ("B", 0.5), ("C", 1.0)))
    assert risk.grade(schema, np.array([0.0, 0.0999, 0.1, 0.49, 0.5, 0.99])).tolist() == [
        "A",
        "A",
        "B",
        "B",
        "C",
        "C",
    ]


def test_reason_codes_rank_raw_features_and_pad(schema):
    # Contributions per one-hot column (+ bias); housing's block sums to 0.9, job's to -0.3.
    contributions = np.array([[0.2, -0.4, 0.0, 0.0, 0.9, -0.3, 0.0, 5.0]], dtype=np.float32)
    reasons = risk.reason_codes(
        schema,
        contributions,
        np.array([[b"rent", b"a"]], dtype=object),
        np.array([[100, 30]], np.float32),
        k=3,
    )
    assert reasons.feature.tolist() == [["housing", "amount", ""]]
    assert reasons.value.tolist() == [["rent", "100", ""]]
    assert reasons.contribution[0, :2] == pytest.approx([0.9, 0.2])
    assert reasons.text[0, 0] == "Housing (rent) raises the risk of default"


def test_schema_round_trips_through_json(schema):
    assert risk.FeatureSchema.from_json(schema.to_json()) == schema


def _booster(depth: int, rows: np.ndarray, labels: np.ndarray):
    import xgboost

    params = {"max_depth": depth, "eta": 0.3, "objective": "binary:logistic", "nthread": 1, "seed": 1}
    return xgboost.train(params, xgboost.DMatrix(rows, label=labels), num_boost_round=30)


def test_the_treeshap_table_gives_xgboosts_own_contributions():
    """Exact TreeSHAP as look-ups: every row's values are pred_contribs' values, bias column included, on
    one-hot and continuous features, including thresholds met exactly."""
    from finfer.models.risk import treeshap

    rng = np.random.default_rng(3)
    rows = np.hstack([rng.normal(size=(400, 4)), rng.integers(0, 2, size=(400, 6))]).astype(np.float32)
    labels = (rows[:, 0] + rows[:, 4] - rows[:, 7] + rng.normal(scale=0.5, size=400) > 0).astype(np.float32)
    booster = _booster(3, rows, labels)
    table = treeshap.build(booster, rows.shape[1])
    assert table is not None
    fresh = np.vstack([rng.normal(size=(200, 10)), np.round(rows[:50], 0)]).astype(np.float32)
    expected = risk.tree_contributions(booster, fresh)
    got = table.contributions(fresh)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # Shifting a row's value across a split changes its values as XGBoost's do (not a constant answer).
    assert not np.allclose(got[0], got[1])


def test_treeshap_falls_back_for_trees_too_deep_for_a_table():
    from finfer.models.risk import treeshap

    rng = np.random.default_rng(4)
    rows = rng.normal(size=(3000, 12)).astype(np.float32)
    labels = (rows.sum(axis=1) > 0).astype(np.float32)
    assert treeshap.build(_booster(6, rows, labels), 12) is None

import numpy as np
import pytest

from finfer.runtime.batching import run_batched


def double(inputs):
    x = inputs["x"]
    if (x < 0).any():
        raise ValueError("x: must be >= 0")
    return {"y": x * 2}


def test_merged_run_splits_answers_per_request():
    calls = []

    def compute(inputs):
        calls.append(inputs["x"].shape[0])
        return double(inputs)

    requests = [{"x": np.array([[1.0], [2.0]])}, {"x": np.array([[3.0]])}]
    results = run_batched(compute, requests)
    assert calls == [3]
    assert [r["y"].ravel().tolist() for r in results] == [[2.0, 4.0], [6.0]]


def test_bad_request_fails_alone():
    requests = [{"x": np.array([[1.0]])}, {"x": np.array([[-1.0]])}, {"x": np.array([[2.0]])}]
    results = run_batched(double, requests)
    assert results[0]["y"].tolist() == [[2.0]]
    assert isinstance(results[1], ValueError) and "x: must be" in str(results[1])
    assert results[2]["y"].tolist() == [[4.0]]


def test_inputs_must_agree_on_batch_size():
    with pytest.raises(ValueError, match="disagree on the batch size"):
        run_batched(double, [{"x": np.zeros((2, 1)), "z": np.zeros((3, 1))}])

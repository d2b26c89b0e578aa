"""The arithmetic behind loadtest/autoscale_signals.py, on hand-made scrapes."""

from __future__ import annotations

import pytest

from finfer.loadtest.autoscale_signals import SERIES, pending, queue_compute_ratio


def test_the_busiest_model_sets_the_queue_compute_ratio():
    before = {
        ("nv_inference_queue_duration_us", "a"): 100.0,
        ("nv_inference_compute_infer_duration_us", "a"): 1000.0,
        ("nv_inference_queue_duration_us", "b"): 0.0,
        ("nv_inference_compute_infer_duration_us", "b"): 0.0,
    }
    after = {
        ("nv_inference_queue_duration_us", "a"): 600.0,  # +500 queued for +1000 computed
        ("nv_inference_compute_infer_duration_us", "a"): 2000.0,
        ("nv_inference_queue_duration_us", "b"): 3000.0,  # +3000 for +2000
        ("nv_inference_compute_infer_duration_us", "b"): 2000.0,
        ("nv_inference_queue_duration_us", "idle"): 0.0,
        ("nv_inference_compute_infer_duration_us", "idle"): 0.0,
    }
    assert queue_compute_ratio(before, after) == pytest.approx(1.5)
    assert queue_compute_ratio(after, after) == 0.0


def test_pending_sums_every_model_and_the_series_pattern_reads_triton_lines():
    lines = [
        'nv_inference_pending_request_count{model="risk_model",version="1"} 3',
        'nv_inference_pending_request_count{model="risk_reasons",version="1"} 4',
        'nv_inference_count{model="risk_model",version="1"} 99',
        "# HELP nv_inference_count Number of inferences performed",
    ]
    sample = {(m[1], m[2]): float(m[3]) for m in map(SERIES.match, lines) if m}
    assert len(sample) == 3
    assert pending(sample) == 7.0

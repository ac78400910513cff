"""Latency summaries of the sample stage (MLflow material: the data never carries wall-clock)."""

import pytest
from synth.sample import latency_summary


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 21)]  # 1..20 s, shuffled order must not matter
    summary = latency_summary(values[::-1])
    assert summary == {"count": 20, "mean": pytest.approx(10.5), "p50": 10.0, "p95": 19.0}


def test_one_value_and_none() -> None:
    assert latency_summary([0.25]) == {"count": 1, "mean": 0.25, "p50": 0.25, "p95": 0.25}
    assert latency_summary([]) == {"count": 0}

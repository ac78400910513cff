"""Bootstrap intervals, paired tests, McNemar and per-subject breakdowns against known cases."""

import math

import numpy as np
import pytest
from evals.stats import bootstrap_ci, grouped_accuracy, mcnemar, paired_bootstrap


def test_all_correct_interval_is_degenerate():
    ci = bootstrap_ci([1] * 50, seed=3)
    assert (ci.value, ci.low, ci.high, ci.n) == (1.0, 1.0, 1.0, 50)


def test_binomial_interval_matches_normal_approximation():
    rng = np.random.default_rng(0)
    x = (rng.random(2000) < 0.6).astype(float)
    ci = bootstrap_ci(x, resamples=4000, seed=1)
    p = x.mean()
    half = 1.96 * math.sqrt(p * (1 - p) / x.size)
    assert ci.low == pytest.approx(p - half, abs=0.004)
    assert ci.high == pytest.approx(p + half, abs=0.004)


def test_bootstrap_is_seeded():
    x = np.random.default_rng(0).random(1001) < 0.5
    assert bootstrap_ci(x, seed=5) == bootstrap_ci(x, seed=5)
    runs = {(bootstrap_ci(x, seed=s).low, bootstrap_ci(x, seed=s).high) for s in range(5)}
    assert len(runs) > 1


def test_mcnemar_exact_known_table():
    # discordant: a right/b wrong = 1, a wrong/b right = 9 -> two-sided exact binomial p = 22/1024
    a = [True] * 1 + [False] * 9 + [True] * 20 + [False] * 5
    b = [False] * 1 + [True] * 9 + [True] * 20 + [False] * 5
    res = mcnemar(a, b)
    assert (res["only_a"], res["only_b"], res["exact"]) == (1, 9, True)
    assert res["p_value"] == pytest.approx(22 / 1024)


def test_mcnemar_chi_square_for_many_discordant():
    a = [True] * 10 + [False] * 30
    b = [False] * 10 + [True] * 30
    res = mcnemar(a, b)
    assert not res["exact"]
    assert res["statistic"] == pytest.approx((abs(10 - 30) - 1) ** 2 / 40)
    assert res["p_value"] < 0.01


def test_mcnemar_no_discordance():
    assert mcnemar([True, False], [True, False])["p_value"] == 1.0


def test_paired_bootstrap_detects_a_real_gain():
    rng = np.random.default_rng(2)
    a = rng.random(500) < 0.4
    b = a | (rng.random(500) < 0.3)
    res = paired_bootstrap(a, b, seed=0)
    assert res["diff"] == pytest.approx(b.mean() - a.mean())
    assert res["low"] > 0 and res["p_value"] < 0.01
    same = paired_bootstrap(a, a, seed=0)
    assert same["diff"] == 0 and same["p_value"] == 1.0


def test_paired_sizes_must_match():
    with pytest.raises(ValueError, match="differ in size"):
        paired_bootstrap([1, 0], [1])


def test_grouped_macro_and_micro():
    res = grouped_accuracy([True, True, False, True], ["x", "x", "y", "y"])
    assert res["subjects"] == {"x": {"acc": 1.0, "n": 2}, "y": {"acc": 0.5, "n": 2}}
    assert res["macro"] == 0.75 and res["micro"] == 0.75
    res = grouped_accuracy([True, True, True, False], ["x", "x", "x", "y"])
    assert res["macro"] == 0.5 and res["micro"] == 0.75

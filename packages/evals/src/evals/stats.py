"""Accuracy with bootstrap intervals, paired comparisons between two models on the same items."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps


@dataclass(frozen=True)
class Interval:
    """A point estimate with a percentile-bootstrap interval."""

    value: float
    low: float
    high: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        return {"value": self.value, "low": self.low, "high": self.high, "n": self.n}


def bootstrap_ci(
    correct: Sequence[float] | np.ndarray,
    *,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Mean of 0/1 outcomes with a seeded percentile bootstrap interval."""
    x = np.asarray(correct, dtype=float)
    if x.size == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    rng = np.random.default_rng(seed)
    # resample in chunks so 2000 x 3000 items does not need a 48 MB index matrix at once
    means = np.concatenate(
        [
            x[rng.integers(0, x.size, size=(min(500, resamples - i), x.size))].mean(axis=1)
            for i in range(0, resamples, 500)
        ]
    )
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return Interval(float(x.mean()), float(low), float(high), int(x.size))


def paired_bootstrap(
    a: Sequence[float],
    b: Sequence[float],
    *,
    resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, float]:
    """Difference mean(b) - mean(a) on the same items: interval and a two-sided bootstrap p."""
    xa, xb = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if xa.shape != xb.shape:
        raise ValueError(f"paired samples differ in size: {xa.size} vs {xb.size}")
    diff = xb - xa
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, diff.size, size=(resamples, diff.size))
    means = diff[idx].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    # share of resamples on the other side of zero, doubled (percentile-bootstrap test)
    p = 2 * min((means <= 0).mean(), (means >= 0).mean())
    return {
        "diff": float(diff.mean()),
        "low": float(low),
        "high": float(high),
        "p_value": float(min(1.0, p)),
    }


def mcnemar(a: Sequence[bool], b: Sequence[bool], *, exact_below: int = 25) -> dict[str, float]:
    """McNemar's test on paired correctness; exact binomial when discordant pairs are few."""
    xa, xb = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if xa.shape != xb.shape:
        raise ValueError(f"paired samples differ in size: {xa.size} vs {xb.size}")
    only_a = int((xa & ~xb).sum())
    only_b = int((~xa & xb).sum())
    n = only_a + only_b
    if n == 0:
        return {"only_a": 0, "only_b": 0, "statistic": 0.0, "p_value": 1.0, "exact": True}
    if n < exact_below:
        p = sps.binomtest(min(only_a, only_b), n, 0.5).pvalue
        return {
            "only_a": only_a,
            "only_b": only_b,
            "statistic": float(min(only_a, only_b)),
            "p_value": float(p),
            "exact": True,
        }
    stat = (abs(only_a - only_b) - 1) ** 2 / n  # with continuity correction
    return {
        "only_a": only_a,
        "only_b": only_b,
        "statistic": float(stat),
        "p_value": float(sps.chi2.sf(stat, 1)),
        "exact": False,
    }


def grouped_accuracy(correct: Sequence[bool], groups: Sequence[str | None]) -> dict[str, dict]:
    """Per-group accuracy and count, plus macro (mean of groups) and micro (all items) averages."""
    by: dict[str, list[bool]] = {}
    for ok, g in zip(correct, groups, strict=True):
        by.setdefault(g or "unknown", []).append(bool(ok))
    per = {g: {"acc": float(np.mean(v)), "n": len(v)} for g, v in sorted(by.items())}
    return {
        "subjects": per,
        "macro": float(np.mean([v["acc"] for v in per.values()])) if per else float("nan"),
        "micro": float(np.mean(np.asarray(correct, dtype=float))) if len(correct) else float("nan"),
    }

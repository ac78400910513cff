"""Matplotlib figures for the report, returned as inline base64 PNG (the HTML stays one file)."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # no display on build machines
import matplotlib.pyplot as plt


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def accuracy_by_stage(by_stage: Mapping[str, Sequence[tuple[str, float, float, float]]]) -> str:
    """One line per task across recipe stages (base -> sft -> dpo/kto/nca), with CI error bars."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for task, points in by_stage.items():
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        err = [[p[1] - p[2] for p in points], [p[3] - p[1] for p in points]]
        ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=task)
    ax.set_ylabel("accuracy")
    ax.set_title("Accuracy per recipe stage (95% bootstrap CI)")
    ax.legend(fontsize=7, ncol=2)
    return _png(fig)


def grouped_bars(
    groups: Sequence[str],
    series: Mapping[str, Sequence[float]],
    title: str,
    ylabel: str = "accuracy",
) -> str:
    """Grouped bar chart: one group per x label, one bar per series."""
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(groups) + 2), 3.6))
    width = 0.8 / max(1, len(series))
    for k, (name, values) in enumerate(series.items()):
        ax.bar([i + k * width for i in range(len(groups))], values, width, label=name)
    ax.set_xticks(
        [i + 0.4 - width / 2 for i in range(len(groups))],
        groups,
        rotation=25,
        ha="right",
        fontsize=8,
    )
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if len(series) > 1:
        ax.legend(fontsize=7)
    return _png(fig)


def funnel(labels: Sequence[str], counts: Sequence[float]) -> str:
    """Horizontal bars of record counts through the data pipeline."""
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(labels) + 1.2))
    ax.barh(list(reversed(labels)), list(reversed(counts)))
    ax.set_xscale("log")
    ax.set_xlabel("records (log scale)")
    ax.set_title("Data funnel")
    return _png(fig)


def curves(histories: Mapping[str, Sequence[tuple[int, float]]], title: str) -> str:
    """Metric histories (step, value), one line each."""
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for name, points in histories.items():
        ax.plot([p[0] for p in points], [p[1] for p in points], label=name)
    ax.set_xlabel("step")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return _png(fig)

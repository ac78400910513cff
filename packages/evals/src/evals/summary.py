"""reports/summary.md: the Markdown twin of the HTML report, from the same context."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evals.recipe import recipe_markdown

NEAR_CHANCE = (
    "Real benchmarks are near chance (25%; PubMedQA 33%) for a model of a few million "
    "parameters: they show the pipeline runs on the real files, not medical skill."
)


def _interval(c: Mapping[str, Any] | None) -> str:
    if not c:
        return "–"
    return f"{100 * c['acc']:.2f} [{100 * c['acc_low']:.1f}, {100 * c['acc_high']:.1f}]"


def _comparison(c: Mapping[str, Any]) -> str:
    ci = f"[{100 * c['low']:.1f}, {100 * c['high']:.1f}]"
    return f"| {c['name']} | {c['task']} | {100 * c['diff']:+.2f} | {ci} | {c['mcnemar_p']:.3g} |"


def _table(ctx: Mapping[str, Any]) -> list[str]:
    tasks = ctx["tasks"]
    lines = ["| model | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]
    for row in ctx["leaderboard"]:
        lines.append(f"| {row['model']} | " + " | ".join(map(_interval, row["cells"])) + " |")
    if ctx["comparisons"]:
        lines += ["", "| comparison | task | diff | 95% CI | McNemar p |", "|---|---|---|---|---|"]
        lines += [_comparison(c) for c in ctx["comparisons"]]
    return lines


def _reward_line(reward: Mapping[str, Any]) -> str:
    """RM mean and per category (strict accuracy, interval), then the best baseline by mean."""
    cells = []
    for r in reward["rows"]:
        c = r["cell"]
        ci = f" [{100 * c['ci_low']:.1f}, {100 * c['ci_high']:.1f}]" if "ci_low" in c else ""
        cells.append(f"{r['category']} {100 * c['accuracy']:.1f}{ci}")
    line = f"mean of categories {100 * reward['mean']:.1f} ({'; '.join(cells)})"
    means = [(m, i) for i, m in enumerate(reward["baseline_means"]) if m is not None]
    if means:
        mean, i = max(means)
        per = ", ".join(
            f"{r['category']} {100 * r['baselines'][i]:.1f}"
            for r in reward["rows"]
            if r["baselines"][i] is not None
        )
        line += f"; best baseline {reward['baselines'][i]} {100 * mean:.1f} ({per})"
    return line + "."


def render_markdown(ctx: dict[str, Any]) -> str:
    """A short Markdown summary: leaderboard, comparisons, funnel, reward note."""
    eval_md5 = ctx["digests"]["eval_metrics"]
    lines = [
        "# Evaluation summary",
        "",
        f"From `{ctx['eval_metrics_path']}` (md5 `{eval_md5}`).",
        "",
    ]
    recipe = recipe_markdown(ctx["recipe"], ctx["recipe_models"], ctx["diagnosis"])
    if recipe:
        lines += [*recipe, "", "## All tasks", "", NEAR_CHANCE, ""]
    lines += _table(ctx)
    if ctx["subjects"]:
        avgs = zip(ctx["subject_models"], ctx["subject_macro"], ctx["subject_micro"], strict=True)
        text = ", ".join(f"{m} {100 * a:.2f} / {100 * b:.2f}" for m, a, b in avgs)
        lines += ["", f"MMLU medical macro / micro: {text}"]
    if ctx.get("reward"):
        rewards = _reward_line(ctx["reward"])
    else:
        rewards = f"not yet produced (`{ctx['reward_metrics_path']}` absent)."
    lines += ["", f"Reward models: {rewards}"]
    if ctx["funnel"]:
        funnel = "; ".join(f"{f['label']} {f['count']}" for f in ctx["funnel"])
        lines += ["", f"Data funnel: {funnel}."]
    return "\n".join(lines) + "\n"

"""The medical reward benchmark: strict accuracy and ties per category, intervals, the mean of
categories, easy pairs by length, pairs from Preference records, predictions, the report section."""

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from data_core.config import load_params, parse_section
from data_core.errors import ConfigError, DataCoreError
from data_core.schemas import Preference
from evals.config import BootstrapParams, ReportConfig
from evals.report import write_report
from evals.stats import bootstrap_ci
from rewards.benchmark import (
    RewardEvalConfig,
    RewardPair,
    category_scores,
    length_split,
    pair_rewards,
    reward_metrics,
    reward_pairs,
    write_predictions,
)

BOOT = BootstrapParams(resamples=500, seed=3)
USER = [{"role": "user", "content": "Which findings suggest Syndrome A?"}]


class CountingRM:
    """A fake reward model with RewardModel's batch method: reward = count of 'good' words."""

    def __init__(self):
        self.calls = 0

    def rewards(self, prompts, responses):
        self.calls += 1
        assert len(prompts) == len(responses) and all(p == USER for p in prompts)
        return [float(r.split().count("good")) for r in responses]


def pair(i, category, chosen, rejected):
    return RewardPair(f"p{i}", category, USER, chosen, rejected)


def test_category_accuracy_ties_and_intervals_by_hand():
    cats = ["easy", "easy", "easy", "easy", "hard", "hard", "length"]
    chosen = [1.0, 0.0, 2.0, 3.0, 1.0, 5.0, 0.0]
    rejected = [0.0, 1.0, 2.0, 1.0, 0.0, 1.0, 0.0]
    cells = category_scores(cats, chosen, rejected, BOOT)
    assert list(cells) == ["easy", "hard", "length"]  # UltraMedical's order
    # easy: right, wrong, tie (wrong), right -> 2 of 4
    assert cells["easy"]["accuracy"] == 0.5 and cells["easy"]["ties"] == 1
    assert cells["easy"]["n"] == 4
    expected = bootstrap_ci([1, 0, 0, 1], resamples=500, seed=3)
    assert (cells["easy"]["ci_low"], cells["easy"]["ci_high"]) == (expected.low, expected.high)
    assert cells["easy"]["ci_low"] < 0.5 < cells["easy"]["ci_high"]
    assert cells["hard"] == {"accuracy": 1.0, "ci_low": 1.0, "ci_high": 1.0, "ties": 0, "n": 2}
    # the only length pair is a tie: wrong, not half right
    assert cells["length"]["accuracy"] == 0.0 and cells["length"]["ties"] == 1


def test_other_categories_follow_ultramedical_ones_sorted():
    cells = category_scores(["zeta", "human", "alpha", "easy"], [1, 1, 1, 1], [0, 0, 0, 0], BOOT)
    assert list(cells) == ["easy", "human", "alpha", "zeta"]


def test_metrics_mean_of_categories_and_easy_by_length():
    pairs = [
        pair(0, "easy", "good good answer", "bad"),  # chosen longer, right
        pair(1, "easy", "good", "a much longer bad answer"),  # chosen shorter, right
        pair(2, "easy", "short", "longer good good"),  # chosen shorter, wrong
        pair(3, "hard", "good one", "bad one"),  # right
        pair(4, "hard", "okay", "fine"),  # equal rewards: tie, wrong
    ]
    rm = CountingRM()
    chosen, rejected = pair_rewards(rm, pairs)
    assert rm.calls == 1 and chosen == [2.0, 1.0, 0.0, 1.0, 0.0]
    lengths = ([float(len(p.chosen)) for p in pairs], [float(len(p.rejected)) for p in pairs])
    m = reward_metrics(pairs, {"reward": (chosen, rejected), "longer_wins": lengths}, BOOT)
    assert m["pairs"] == 5
    assert m["categories"]["easy"]["accuracy"] == pytest.approx(2 / 3)
    assert m["categories"]["hard"]["accuracy"] == 0.5 and m["categories"]["hard"]["ties"] == 1
    assert m["mean"] == pytest.approx((2 / 3 + 0.5) / 2)  # plain mean of categories, not of pairs
    assert m["easy_by_length"]["chosen_longer"]["accuracy"] == 1.0
    assert m["easy_by_length"]["chosen_longer"]["n"] == 1
    assert m["easy_by_length"]["chosen_shorter"]["accuracy"] == 0.5
    assert "equal_length" not in m["easy_by_length"]
    base = m["baselines"]["longer_wins"]
    assert base["categories"]["easy"]["accuracy"] == pytest.approx(1 / 3)
    # "good one" is longer than "bad one"; "okay" and "fine" tie: wrong
    assert base["categories"]["hard"]["accuracy"] == 0.5 and base["categories"]["hard"]["ties"] == 1
    assert base["mean"] == pytest.approx((1 / 3 + 0.5) / 2)
    json.dumps(m, allow_nan=False)  # strict JSON: no NaN from an empty group


def test_length_split_only_counts_the_category():
    pairs = [pair(0, "hard", "long one", "x"), pair(1, "easy", "ab", "cd")]
    split = length_split(pairs, [1.0, 1.0], [0.0, 0.0], BOOT)
    assert list(split) == ["equal_length"] and split["equal_length"]["n"] == 1


def _record(i, split="test", category="easy", extra_turn=False):
    chosen = [*USER, {"role": "assistant", "content": f"good {i}"}]
    if extra_turn:
        chosen += [{"role": "user", "content": "and?"}, {"role": "assistant", "content": "more"}]
    return Preference(
        id=f"r{i}",
        prompt=USER,
        chosen=chosen,
        rejected=[*USER, {"role": "assistant", "content": f"bad {i}"}],
        chosen_model="kb",
        rejected_model="kb-noisy",
        chosen_score=9.0,
        rejected_score=2.0,
        margin=7.0,
        category=category,
        source="synth-kb",
        split=split,
    )


def test_reward_pairs_take_the_split_and_the_response_text():
    records = [_record(0, "train"), _record(1), _record(2, category="hard"), _record(3)]
    pairs = reward_pairs(records, "test")
    assert [p.id for p in pairs] == ["r1", "r2", "r3"]
    assert pairs[1] == RewardPair("r2", "hard", USER, "good 2", "bad 2")
    assert [p.id for p in reward_pairs(records, "test", limit=2)] == ["r1", "r2"]
    with pytest.raises(DataCoreError, match=r"r5: chosen must add one assistant turn"):
        reward_pairs([_record(5, extra_turn=True)], "test")
    with pytest.raises(DataCoreError, match="no preference pairs in split 'test'"):
        reward_pairs([_record(0, "train")], "test")


def test_predictions_hold_rewards_and_every_margin(tmp_path):
    pairs = [pair(0, "easy", "a", "b"), pair(1, "hard", "c", "d")]
    scores = {"reward": ([1.0, 0.0], [0.5, 2.0]), "sft_logprob": ([-1.0, -2.0], [-3.0, -1.0])}
    write_predictions(tmp_path / "p.parquet", pairs, scores)
    frame = pl.read_parquet(tmp_path / "p.parquet")
    assert frame.columns == [
        "id",
        "category",
        "reward_chosen",
        "reward_rejected",
        "reward_margin",
        "sft_logprob_margin",
    ]
    assert frame["reward_margin"].to_list() == [0.5, -2.0]
    assert frame["sft_logprob_margin"].to_list() == [2.0, -1.0]


def test_report_shows_categories_intervals_baselines_and_rewardbench(tmp_path):
    pairs = [pair(i, c, "good" if i % 3 else "bad", "bad") for i, c in enumerate(["easy"] * 6)]
    pairs += [pair(10 + i, "hard", "good", "good" if i else "bad") for i in range(4)]
    chosen, rejected = pair_rewards(CountingRM(), pairs)
    lengths = ([float(len(p.chosen)) for p in pairs], [float(len(p.rejected)) for p in pairs])
    rng = np.random.default_rng(0)
    noise = (list(rng.normal(size=10)), list(rng.normal(size=10)))
    scores = {"reward": (chosen, rejected), "longer_wins": lengths, "sft_logprob": noise}
    m = reward_metrics(pairs, scores, BOOT)
    m["rewardbench"] = {
        "extra.jsonl": {
            "pairs": 3,
            "subsets": {
                "mt-bench-easy": {"accuracy": 1.0, "ci_low": 1.0, "ci_high": 1.0, "ties": 0, "n": 3}
            },
            "weighting": "rewardbench",
            "sections": {"Chat": 1.0},
            "overall": 1.0,
        }
    }
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/eval.json").write_text(json.dumps({"models": {}, "tasks": {}}))
    (tmp_path / "metrics/reward_eval.json").write_text(json.dumps(m))
    cfg = ReportConfig(funnel_metrics=[], training_stages=[])
    ctx = write_report(cfg, tmp_path)
    html = (tmp_path / cfg.html).read_text()
    easy, hard = m["categories"]["easy"], m["categories"]["hard"]
    cell = f"{100 * easy['accuracy']:.2f} [{100 * easy['ci_low']:.1f}, {100 * easy['ci_high']:.1f}]"
    assert cell in html and "66.67" in cell
    assert "<th>longer_wins</th><th>sft_logprob</th>" in html
    assert f"<td>{100 * m['baselines']['sft_logprob']['mean']:.2f}</td>" in html
    assert "chosen_longer" in html and "section Chat" in html and "extra.jsonl" in html
    assert ctx["plots"]["rewards"] and "Not yet produced" not in html
    md = (tmp_path / cfg.markdown).read_text()
    line = next(x for x in md.splitlines() if x.startswith("Reward models:"))
    assert f"mean of categories {100 * m['mean']:.1f}" in line
    assert f"hard {100 * hard['accuracy']:.1f} [" in line
    best = max(m["baselines"], key=lambda b: m["baselines"][b]["mean"])
    assert f"best baseline {best} {100 * m['baselines'][best]['mean']:.1f}" in line


def test_params_section_parses_and_typos_name_the_key():
    params = load_params(Path(__file__).resolve().parents[2] / "params.yaml")
    cfg = parse_section(params, "reward_eval", RewardEvalConfig)
    assert cfg.split == "test" and cfg.rewardbench_files == []
    params["reward_eval"]["rewardbench_file"] = ["x.jsonl"]
    with pytest.raises(ConfigError, match=r"reward_eval\.rewardbench_file: unknown key"):
        parse_section(params, "reward_eval", RewardEvalConfig)

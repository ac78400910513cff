"""Best-of-n fed by a reward model: what it reads, the selectors on the same samples, and a cache
key that follows the reward model's files (and only for the best-of-n units)."""

from pathlib import Path

import pytest
from data_core.errors import ConfigError
from evals.backends import GenerationConfig
from evals.reward_scorer import load_reward_scorer
from evals.runner import evaluate
from evals.scorers import score_best_of_n

from tests.evals.fixtures_tasks import evaluate_config
from tests.evals.test_scorers import Scripted
from tests.fixtures.tiny_models import make_items


class MarkerReward:
    """Prefers completions containing the marker word written in the reward model's dir."""

    def __init__(self, path: Path) -> None:
        self.marker = (path / "marker.txt").read_text().strip()

    def score(self, prompt, completions):
        return [float(self.marker in c) for c in completions]


def marker_reward(path: Path) -> MarkerReward:
    return MarkerReward(path)


def test_the_reward_reads_the_question_and_the_whole_reply():
    items = make_items("medqa", 2, seed=4)
    gold = [items[0].options[items[0].answer], items[1].options[items[1].answer]]
    outs = [["nothing", f"{gold[0]} keep", "nothing else"], ["x", "y", "z"]]
    cfg = GenerationConfig(max_new_tokens=8, temperature=0.7, top_p=0.9, n=3)
    rewards = []

    def reward(prompt, completions):
        rewards.append((prompt, completions))
        return [float("keep" in c) for c in completions]

    rows = score_best_of_n(
        Scripted(outs),
        items,
        ["<t>q1", "<t>q2"],
        cfg,
        reward,
        questions=["q1", "q2"],
        prefixes=["So: ", "So: "],
    )
    assert rewards[0] == ("q1", ["So: nothing", f"So: {gold[0]} keep", "So: nothing else"])
    assert rows[0]["output"] == f"{gold[0]} keep" and rows[0]["correct"]
    assert rows[0]["any_correct"] and rows[0]["self_consistency"] == items[0].answer
    assert not rows[1]["any_correct"] and rows[1]["self_consistency"] == "unparsed"


def _cfg(model_dir, reward_dir):
    section = {
        "models": [{"name": "m", "path": str(model_dir)}],
        "tasks": [
            {"name": "medqa", "limit": 6},
            {
                "name": "medqa",
                "label": "medqa_bon",
                "scorer": "best_of_n",
                "limit": 6,
                "samples": 3,
                "max_new_tokens": 6,
            },
        ],
        "reward_scorer": "tests.evals.test_best_of_n:marker_reward",
        "reward_model": str(reward_dir),
        "bootstrap": {"resamples": 200, "seed": 0},
    }
    return evaluate_config({"evaluate": section})


def test_a_new_reward_model_rescores_only_the_best_of_n_units(eval_files, tiny_model):
    reward_dir = eval_files / "reward"
    reward_dir.mkdir()
    (reward_dir / "marker.txt").write_text("A")
    cfg = _cfg(tiny_model, reward_dir)
    first = evaluate(cfg, eval_files)
    assert first.cache == {"hits": 0, "misses": 2, "pruned": 0}
    bon = first.metrics["models"]["m"]["medqa_bon"]
    assert bon["acc"] <= bon["any_correct"]["acc"]  # any-correct bounds every selector
    assert bon["self_consistency"]["acc"] <= bon["any_correct"]["acc"]
    assert evaluate(cfg, eval_files).cache["hits"] == 2
    (reward_dir / "marker.txt").write_text("B")  # a retrained reward model
    third = evaluate(cfg, eval_files)
    assert third.cache == {"hits": 1, "misses": 1, "pruned": 1}


def test_reward_scorer_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"evaluate\.reward_scorer"):
        load_reward_scorer("no_colon_here")
    with pytest.raises(ConfigError, match="cannot load"):
        load_reward_scorer("tests.evals.test_best_of_n:missing_factory")
    with pytest.raises(ConfigError, match="does not exist"):
        load_reward_scorer("tests.evals.test_best_of_n:marker_reward", tmp_path / "absent")

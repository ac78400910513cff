"""Online DPO's data rules: the prompt pool, disjoint seeded slices, best-vs-worst pairs, and the
per-round figures, on hand-made rewards."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from data_core.config import load_params
from data_core.errors import ConfigError, DataCoreError
from data_core.paths import stage_paths
from data_core.schemas import Instruction, Message, Preference
from rewards.online_config import parse, start_dir
from rewards.online_metrics import pearson, round_metrics, verified_rates
from rewards.online_pairs import (
    PromptSamples,
    make_pairs,
    pick_pair,
    prompt_pool,
    prompt_slices,
)


def record(i: int, split: str = "train", gold: str | None = "Syndrome A") -> Instruction:
    return Instruction(
        id=f"t:{i}",
        source="t",
        type="open",
        messages=[
            Message(role="user", content=f"Question {i}?"),
            Message(role="assistant", content="reference answer"),
        ],
        meta={"gold": gold} if gold else {},
        split=split,
    )


def preference(pid: str, split: str) -> Preference:
    user = Message(role="user", content="q")
    return Preference(
        id=pid,
        prompt=[user],
        chosen=[user, Message(role="assistant", content="good")],
        rejected=[user, Message(role="assistant", content="bad")],
        chosen_model="kb",
        rejected_model="kb-noisy",
        chosen_score=9,
        rejected_score=2,
        source="t",
        margin=7,
        category="easy",
        split=split,
    )


def group(rewards, tokens=None, texts=None, gold="Syndrome A") -> PromptSamples:
    texts = texts or [f"answer {i}" for i in range(len(rewards))]
    tokens = tokens or [10] * len(rewards)
    return PromptSamples(
        record(0, gold=gold), [{"role": "user", "content": "q"}], texts, rewards, tokens
    )


def test_pair_is_argmax_vs_argmin():
    assert pick_pair([0.2, 0.9, -0.5, 0.1], ["a", "b", "c", "d"], 0.0) == (1, 2)
    # equal maxima: the first wins; the worst is the first minimum
    assert pick_pair([0.9, 0.9, 0.1, 0.1], ["a", "b", "c", "d"], 0.0) == (0, 2)


def test_ties_and_small_margins_are_dropped():
    assert pick_pair([0.5, 0.5, 0.5], ["a", "b", "c"], 0.0) == "tie"
    assert pick_pair([0.9, 0.1], ["same", " same "], 0.0) == "tie"  # one text, two rewards
    assert pick_pair([0.6, 0.1], ["a", "b"], 0.5) == (0, 1)
    assert pick_pair([0.55, 0.1], ["a", "b"], 0.5) == "below_margin"


def test_length_penalty_reranks_pairs():
    g = group([1.0, 0.8, 0.0], tokens=[40, 5, 10])
    rows, kept, dropped = make_pairs([g], 0.0, 0.0)
    assert [(c, r) for _, c, r in kept] == [(0, 2)] and not dropped
    assert rows[0]["chosen"] == [{"role": "assistant", "content": "answer 0"}]
    assert rows[0]["rejected"] == [{"role": "assistant", "content": "answer 2"}]
    # alpha 0.02: scores 0.2, 0.7, -0.2: the short answer now wins, the long one is not the worst
    _, kept, _ = make_pairs([g], 0.0, 0.02)
    assert [(c, r) for _, c, r in kept] == [(1, 2)]


def test_make_pairs_counts_drops_by_reason():
    groups = [group([1.0, 0.0]), group([0.3, 0.3]), group([0.5, 0.45]), group([2.0, -1.0])]
    rows, _, dropped = make_pairs(groups, 0.1, 0.0)
    assert len(rows) == 2 and dropped == Counter({"tie": 1, "below_margin": 1})


def test_pool_holds_train_prompts_of_the_preference_set_only():
    records = [record(i) for i in range(4)] + [record(9, split="test")]
    prefs = [
        preference("t:0#0", "train"),
        preference("t:0#1", "train"),
        preference("t:2#0", "train"),
        preference("t:3#0", "test"),
        preference("t:9#0", "train"),  # a test-split instruction: never a prompt
    ]
    pool = prompt_pool(records, prefs, "sft.parquet")
    assert [r.id for r in pool] == ["t:0", "t:2"]
    assert [r.id for r in prompt_pool(records, None, "sft.parquet")] == ["t:0", "t:1", "t:2", "t:3"]
    with pytest.raises(DataCoreError, match=r"sft.parquet: no instruction for .*t:7"):
        prompt_pool(records, [preference("t:7#0", "train")], "sft.parquet")


def test_slices_are_disjoint_seeded_and_stable():
    pool = [record(i) for i in range(30)]
    slices = prompt_slices(pool, 3, 8, seed=1)
    ids = [[r.id for r in s] for s in slices]
    assert [len(s) for s in ids] == [8, 8, 8]
    assert len({i for s in ids for i in s}) == 24  # disjoint
    assert ids == [[r.id for r in s] for s in prompt_slices(pool[::-1], 3, 8, seed=1)]
    assert ids != [[r.id for r in s] for s in prompt_slices(pool, 3, 8, seed=2)]
    with pytest.raises(DataCoreError, match="need 32 distinct prompts, the pool has 30"):
        prompt_slices(pool, 4, 8, seed=1)


def test_round_metrics_on_a_fixture():
    right, wrong = "It is Syndrome A.", "It is Syndrome B."
    groups = [
        # the reward model prefers the right (and longer) answer
        group([2.0, 0.0, 1.0], tokens=[20, 10, 12], texts=[right, wrong, wrong]),
        # the reward model prefers a wrong answer: reward hacking
        group([3.0, -1.0, 0.0], tokens=[30, 6, 8], texts=[wrong, right, right]),
        group([1.0, 1.0, 1.0], tokens=[5, 5, 5], texts=["x", "y", "z"]),  # a tie
        group([0.0, 4.0, 2.0], tokens=[4, 40, 4], texts=["p", "q", "r"], gold=None),  # no gold
    ]
    _, kept, dropped = make_pairs(groups, 0.0, 0.0)
    verified = verified_rates(groups, None, seed=0, length_penalty=0.0, open_threshold=0.8)
    m = round_metrics(groups, kept, dropped, verified=verified)
    assert (m["prompts"], m["responses"], m["pairs_kept"], m["dropped_tie"]) == (4, 12, 3, 1)
    assert m["reward_mean"] == round(14 / 12, 4)  # (3 + 2 + 3 + 6) / 12
    assert m["reward_top1"] == 2.5  # (2 + 3 + 1 + 4) / 4
    assert m["chosen_tokens_mean"] == 30.0  # (20 + 30 + 40) / 3
    assert m["rejected_tokens_mean"] == round(20 / 3, 4)  # (10 + 6 + 4) / 3
    assert m["chosen_reward_mean"] == 3.0 and m["rejected_reward_mean"] == round(-1 / 3, 4)
    assert m["reward_length_pearson"] > 0.8  # longer answers got higher rewards
    assert m["verified_prompts"] == 3  # the gold-less prompt is not checked
    assert m["verified_best"] == round(1 / 3, 4)  # right only on the first prompt
    assert m["verified_worst"] == round(1 / 3, 4)  # the second prompt's worst is right
    assert m["verified_random"] in {0.0, round(1 / 3, 4), round(2 / 3, 4)}


def test_verified_sample_is_a_seeded_subset():
    groups = [group([1.0, 0.0], texts=["Syndrome A", "no"]) for _ in range(10)]
    a = verified_rates(groups, 4, seed=3, length_penalty=0.0, open_threshold=0.8)
    assert a["verified_prompts"] == 4 and a["verified_best"] == 1.0 and a["verified_worst"] == 0.0
    assert a == verified_rates(groups, 4, seed=3, length_penalty=0.0, open_threshold=0.8)


def test_pearson_is_none_when_undefined():
    assert pearson([1.0], [2.0]) is None
    assert pearson([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) is None
    assert pearson([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]) == 1.0


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"params.yaml: online_dpo.samples: "):
        parse({"online_dpo": {"samples": 1}})
    with pytest.raises(ConfigError, match=r"params.yaml: online_dpo.reference: "):
        parse({"online_dpo": {"reference": "sft"}})
    with pytest.raises(ConfigError, match=r"online_dpo\.sample: unknown key"):
        parse({"online_dpo": {"sample": 4}})
    cfg = parse({"online_dpo": {"start_from": "models/none", "beta": 0.2, "max_steps": 3}})
    assert cfg.preference().beta == 0.2 and cfg.preference().max_steps == 3
    with pytest.raises(ConfigError, match=r"online_dpo\.start_from: models/none is not a model"):
        start_dir(cfg, tmp_path)


def test_repo_params_parse_and_name_the_stage_output():
    root = Path(__file__).resolve().parents[2]
    params = load_params(root / "params.yaml")
    cfg = parse(params)
    assert stage_paths(params, root).relative("models.online_dpo") == cfg.output_dir

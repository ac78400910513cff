"""The online DPO loop on a tiny Llama: rounds train, leave markers, and an interrupted run resumes
at the unfinished round without sampling the finished ones again, ending where an uninterrupted
run ends."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from rewards.online import OnlineInputs, cached_policy_generators, run_online, train_online
from rewards.online_config import OnlineDpoConfig
from rewards.online_pairs import prompt_pool
from trainers.config import TokenizerConfig
from trainers.lifecycle import TrainingJob
from trainers.model_dir import save_model_dir
from trainers.preference import pair_rows
from trainers.pretrain import new_model
from trainers.tokenizer import train_bpe
from transformers import AutoModelForCausalLM, TrainerCallback

from tests.trainers.conftest import TINY_MODEL, Crash, corpus, instructions, preferences

CFG = OnlineDpoConfig(
    iterations=2,
    prompts_per_iteration=6,
    samples=3,
    max_new_tokens=10,
    max_steps=4,
    save_steps=2,
    per_device_train_batch_size=2,
    per_device_eval_batch_size=8,
    max_length=128,
    learning_rate=5e-3,
    logging_steps=1,
    beta=0.3,
    verified_sample=None,
    generation_batch_size=9,
    device="cpu",
    seed=0,
)


class LengthReward:
    """A stand-in reward model with RewardModel's `rewards`: prefers short answers, a hash
    fraction breaks ties between different texts."""

    def rewards(self, prompts, responses):
        assert len(prompts) == len(responses)
        frac = [int(hashlib.md5(r.encode()).hexdigest()[:6], 16) / 16**6 for r in responses]
        return [-len(r.split()) + f for r, f in zip(responses, frac, strict=True)]


class CrashInRound(TrainerCallback):
    """Raises Crash at step `step` of the `round`-th training this process runs."""

    def __init__(self, round_: int, step: int) -> None:
        self.round, self.step, self.trainings = round_, step, 0

    def on_train_begin(self, args, state, control, **kwargs):
        self.trainings += 1

    def on_step_end(self, args, state, control, **kwargs):
        if self.trainings == self.round and state.global_step == self.step:
            raise Crash(f"killed in round {self.round} at step {self.step}")


@pytest.fixture(scope="module")
def tokenizer():
    texts = corpus() + [m.content for r in instructions() for m in r.messages]
    return train_bpe(texts, TokenizerConfig(vocab_size=400, min_frequency=1))


@pytest.fixture(scope="module")
def start(tmp_path_factory, tokenizer) -> Path:
    out = tmp_path_factory.mktemp("online") / "start"
    save_model_dir(new_model(TINY_MODEL, tokenizer, seed=0), tokenizer, out)
    return out


def pool():
    records = [
        r.model_copy(update={"meta": {"gold": r.messages[-1].content.removeprefix("The ")}})
        for r in instructions(48)
    ]
    return prompt_pool(records, preferences(48), "fixture")


class Factories:
    """Cached transformers generators that remember what they were made for."""

    def __init__(self, cache: Path) -> None:
        self.make, self.made = cached_policy_generators(cache, CFG, "cpu"), []

    def __call__(self, policy: Path):
        generator = self.make(policy)
        self.made.append((policy, generator))
        return generator


def job(root: Path, *callbacks) -> TrainingJob:
    return TrainingJob(root, root / "out", root / "ckpt", {"recipe": "v1"}, callbacks=callbacks)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return AutoModelForCausalLM.from_pretrained(path).state_dict()


def test_interrupted_run_resumes_at_the_unfinished_round(tmp_path, tokenizer, start):
    a, b = tmp_path / "a", tmp_path / "b"
    made_a = Factories(a / "responses.sqlite")
    inputs = OnlineInputs(pool(), start, LengthReward(), made_a)
    with pytest.raises(Crash):
        run_online(CFG, job(a, CrashInRound(2, 3)), tokenizer, inputs)
    ckpt = a / "ckpt"
    assert (ckpt / "iter-1" / "done.json").is_file() and (ckpt / "iter-1" / "model").is_dir()
    assert not (ckpt / "iter-2" / "done.json").exists()
    assert (ckpt / "iter-2" / "trainer" / "checkpoint-2").is_dir()  # round 2's Trainer state
    assert [p for p, _ in made_a.made] == [start, ckpt / "iter-1" / "model"]
    first = json.loads((ckpt / "iter-1" / "done.json").read_text())["metrics"]

    resumed = Factories(a / "responses.sqlite")
    test = pair_rows(preferences(48), "test", None)
    inputs = OnlineInputs(pool(), start, LengthReward(), resumed)
    result = train_online(CFG, job(a), tokenizer, inputs, test, start)
    # round 1 is read back, not sampled again; round 2's samples all come from the cache
    assert [p for p, _ in resumed.made] == [ckpt / "iter-1" / "model"]
    generator = resumed.made[0][1]
    assert generator.inner.stats["calls"] == 0
    assert generator.stats["cache_hits"] == CFG.prompts_per_iteration * CFG.samples
    assert {k: result.metrics[f"round_1.{k}"] for k in first} == first
    assert not ckpt.exists() and (a / "out" / "config.json").is_file()

    fresh = Factories(b / "responses.sqlite")
    inputs = OnlineInputs(pool(), start, LengthReward(), fresh)
    clean = train_online(CFG, job(b), tokenizer, inputs, test, start)
    assert [p.name for p, _ in fresh.made] == ["start", "model"]
    assert sum(g.inner.stats["calls"] for _, g in fresh.made) == 2 * 6 * 3
    # the same rounds and held-out figures (train_loss averages only the steps a process ran)
    assert result.metrics.keys() == clean.metrics.keys()
    for key, value in clean.metrics.items():
        if isinstance(value, float) and not key.endswith("train_loss"):
            assert result.metrics[key] == pytest.approx(value, rel=1e-4, abs=1e-5), key
        elif not key.endswith("train_loss"):
            assert result.metrics[key] == value, key
    final_a, final_b = weights(a / "out"), weights(b / "out")
    for name, tensor in final_a.items():
        torch.testing.assert_close(tensor, final_b[name], rtol=1e-4, atol=1e-5, msg=name)
    assert any(not torch.equal(t, weights(start)[n]) for n, t in final_a.items())  # it trained


def test_round_figures_and_heldout(tmp_path, tokenizer, start):
    cfg = CFG.model_copy(update={"iterations": 1, "length_penalty": 0.5})
    inputs = OnlineInputs(pool(), start, LengthReward(), Factories(tmp_path / "r.sqlite"))
    test = pair_rows(preferences(48), "test", None)
    m = train_online(cfg, job(tmp_path), tokenizer, inputs, test, start).metrics
    assert m["round_1.prompts"] == 6 and m["round_1.responses"] == 18
    assert m["round_1.pairs_kept"] + m["round_1.pairs_dropped"] == 6
    assert m["pairs_trained"] == m["round_1.pairs_kept"] > 0
    assert m["round_1.chosen_reward_mean"] > m["round_1.rejected_reward_mean"]
    # a random tiny model never stops early: every response is max_new_tokens long, so the
    # penalty shifts every score alike and the reward-length correlation is undefined
    assert m["round_1.chosen_tokens_mean"] == m["round_1.rejected_tokens_mean"] == 10
    assert m["round_1.reward_length_pearson"] is None
    assert m["round_1.verified_prompts"] == 6  # every prompt carries a gold answer
    assert m["heldout_pairs"] == len(test)
    # the start model is its own reference: implicit reward 0 on every pair, chance accuracy
    assert m["heldout_start_reward_accuracy"] == 0.5 and m["heldout_start_reward_margin"] == 0
    assert m["heldout_online_reward_margin"] != 0

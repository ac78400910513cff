"""Baselines: longer wins (ties wrong), SFT mean token log-prob, the DPO implicit reward's sign."""

import pytest
import torch
from evals.config import BootstrapParams
from rewards.baselines import baseline_scores, longer_wins, model_logps
from rewards.benchmark import RewardPair, category_scores
from trainers.heldout import assistant_labels
from transformers import AutoModelForCausalLM, AutoTokenizer

from tests.fixtures.tiny_models import make_tiny_llama

USER = [{"role": "user", "content": "abnormal muscle tone ?"}]
GOOD, BAD = "increased muscle tone of the heart .", "decreased bone size of the skin ."
BOOT = BootstrapParams(resamples=200, seed=0)


def test_longer_wins_counts_equal_lengths_wrong():
    pairs = [
        RewardPair("0", "easy", USER, "a long answer", "short"),
        RewardPair("1", "easy", USER, "tiny", "a longer one"),
        RewardPair("2", "length", USER, "same", "size"),
    ]
    chosen, rejected = longer_wins(pairs)
    assert chosen == [13.0, 4.0, 4.0] and rejected == [5.0, 12.0, 4.0]
    cells = category_scores([p.category for p in pairs], chosen, rejected, BOOT)
    assert cells["easy"]["accuracy"] == 0.5
    assert cells["length"]["accuracy"] == 0.0 and cells["length"]["ties"] == 1


def _tuned(reference, out, response, steps=25):
    """A copy of `reference` trained to say `response` (a policy that prefers it)."""
    tokenizer = AutoTokenizer.from_pretrained(reference)
    model = AutoModelForCausalLM.from_pretrained(reference)
    row = assistant_labels(tokenizer, [*USER, {"role": "assistant", "content": response}], 128)
    ids, labels = torch.tensor([row["input_ids"]]), torch.tensor([row["labels"]])
    optim = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        optim.zero_grad()
        model(input_ids=ids, labels=labels).loss.backward()
        optim.step()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    sft = make_tiny_llama(root / "sft", seed=1)
    return sft, _tuned(sft, root / "good", GOOD), _tuned(sft, root / "bad", BAD)


def test_dpo_implicit_reward_sign_follows_the_policy(models):
    sft, good, bad = models
    pairs = [RewardPair("0", "easy", USER, GOOD, BAD), RewardPair("1", "hard", USER, BAD, GOOD)]
    toward_good = baseline_scores(pairs, sft, good, beta=0.5)["dpo_implicit"]
    margins = [c - r for c, r in zip(*toward_good, strict=True)]
    assert margins[0] > 0 > margins[1]  # the policy moved toward GOOD: GOOD gets the higher reward
    assert toward_good[0][0] > 0  # and above the reference (implicit reward of GOOD is positive)
    toward_bad = baseline_scores(pairs, sft, bad, beta=0.5)["dpo_implicit"]
    assert toward_bad[0][0] - toward_bad[1][0] < 0
    # beta scales the implicit reward linearly
    double = baseline_scores(pairs, sft, good, beta=1.0)["dpo_implicit"]
    assert double[0][0] == pytest.approx(2 * toward_good[0][0], rel=1e-4)
    # the reference itself as policy: zero reward everywhere, every pair a tie (wrong)
    same = baseline_scores(pairs, sft, sft, beta=0.5)["dpo_implicit"]
    assert same == ([0.0, 0.0], [0.0, 0.0])


def test_sft_logprob_is_per_response_token(models):
    sft, good, _ = models
    long = GOOD + " increased muscle tone of the heart ."
    pairs = [RewardPair("0", "easy", USER, GOOD, long)]
    logps = model_logps(good, pairs, max_length=128, batch_size=4)
    assert logps.rejected_tokens[0] - logps.chosen_tokens[0] == 7  # seven more words
    mean_c, mean_r = baseline_scores(pairs, sft, good, beta=0.1)["sft_logprob"]
    sums = model_logps(sft, pairs, max_length=128, batch_size=4)
    assert mean_c[0] == pytest.approx(sums.chosen[0] / sums.chosen_tokens[0])
    assert mean_r[0] == pytest.approx(sums.rejected[0] / sums.rejected_tokens[0])
    # the model trained on GOOD: higher mean log-prob per token on it than on its repetition
    assert logps.chosen[0] / logps.chosen_tokens[0] > logps.rejected[0] / logps.rejected_tokens[0]

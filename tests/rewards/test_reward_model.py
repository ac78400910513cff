"""The Bradley-Terry reward model: it learns a known preference, saves as a 1-label classifier,
and scores exactly what training saw, whatever the padding side or the batch."""

from __future__ import annotations

import copy

import pytest
import torch
import yaml
from data_core.errors import ConfigError, DataCoreError
from data_core.paths import StagePaths
from generation.fingerprint import model_fingerprint
from rewards.config import parse, rewardbench_files
from rewards.scoring import RewardModel, check_pad_token, default_scorer
from rewards.training import CARD_USAGE, head_parameters, reward_rows, reward_trainer
from trainers.arguments import training_kwargs
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from tests.rewards.conftest import REFUSAL, known_pairs, reward_config


def test_training_orders_known_pairs(trained_reward) -> None:
    out, metrics = trained_reward
    assert metrics["global_step"] == 24
    assert metrics["train_loss"] < 0.5  # ln 2 = 0.693 is a model that learned nothing
    test = metrics["heldout_test"]
    assert test["pairs"] == 8 and test["accuracy"] == 1.0
    assert test["margin_mean"] > 1.0
    assert set(test["accuracy_by_category"]) == {"easy", "hard"}
    scorer = RewardModel.load(out)
    prompt = "A patient has fever, rash, cough. Diagnosis?"
    good, bad = scorer.score(prompt, ["The diagnosis is Syndrome A.", REFUSAL])
    assert good > bad


def test_saved_model_is_a_one_label_classifier_with_its_own_pad(trained_reward) -> None:
    out, _ = trained_reward
    model = AutoModelForSequenceClassification.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert model.config.num_labels == 1
    assert model.config.pad_token_id == tokenizer.pad_token_id
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    # the card names the class the saved config declares, not the causal LM the others use
    assert model.config.architectures[0].endswith("ForSequenceClassification")
    assert "AutoModelForSequenceClassification" in CARD_USAGE and "CausalLM" not in CARD_USAGE


def test_scores_do_not_depend_on_padding_side_or_batch(trained_reward) -> None:
    out, _ = trained_reward
    pairs = known_pairs(12)
    prompts = [[m.model_dump() for m in p.prompt] for p in pairs]
    # answers of different lengths, so the batches are padded
    answers = [p.chosen[0].content + " Check the family." * (i % 4) for i, p in enumerate(pairs)]
    alone = RewardModel.load(out, batch_size=1).rewards(prompts[:1], answers[:1])[0]
    for side in ("left", "right"):
        scorer = RewardModel.load(out, batch_size=5)
        scorer.tokenizer.padding_side = side
        batched = scorer.rewards(prompts, answers)
        assert batched[0] == pytest.approx(alone, rel=1e-5)
        reordered = scorer.rewards(prompts[::-1], answers[::-1])[::-1]
        assert reordered == pytest.approx(batched, rel=1e-5)


def test_score_is_one_user_turn(trained_reward) -> None:
    scorer = RewardModel.load(trained_reward[0])
    answers = ["The diagnosis is Syndrome B.", REFUSAL]
    prompt = [{"role": "user", "content": "A patient has ataxia. Diagnosis?"}]
    assert scorer.score(prompt[0]["content"], answers) == scorer.rewards([prompt] * 2, answers)


def test_scoring_tokenizes_as_the_trainer_did(tmp_path, tokenizer, tiny_model_dir) -> None:
    """The trainer's own tokenized chosen/rejected ids are what the scorer feeds the model."""
    cfg = reward_config(max_steps=1)
    pairs = known_pairs(6)[1:3]
    rows = reward_rows(pairs, cfg)
    make = reward_trainer(tiny_model_dir, tokenizer, rows, [], cfg)
    trainer = make(training_kwargs(cfg, tmp_path, tmp_path / "ck"), [])
    scorer = RewardModel(trainer.model, tokenizer)
    for pair, example in zip(pairs, trainer.train_dataset, strict=True):
        prompt = [m.model_dump() for m in pair.prompt]
        assert scorer.encode(prompt, pair.chosen[0].content) == example["chosen_ids"]
        assert scorer.encode(prompt, pair.rejected[0].content) == example["rejected_ids"]
        assert example["chosen_ids"][-1] == tokenizer.convert_tokens_to_ids("<|eot_id|>")


def test_head_lr_zero_init_and_frozen_layers(tmp_path, tokenizer, tiny_model_dir) -> None:
    """The score head starts at 0 and trains at its own lr; frozen parts stay as loaded."""
    cfg = reward_config(
        max_steps=3,
        learning_rate=1e-3,
        head_learning_rate=5e-2,
        score_init="zero",
        freeze_embeddings=True,
        freeze_layers=1,
    )
    rows = reward_rows(known_pairs(12), cfg)
    make = reward_trainer(tiny_model_dir, tokenizer, rows, [], cfg)
    trainer = make(training_kwargs(cfg, tmp_path, tmp_path / "ck"), [])
    model = trainer.model
    head = head_parameters(model)
    assert set(head) == {"score.weight"} and not head["score.weight"].any()
    body = model.base_model
    frozen = {n: p.detach().clone() for n, p in body.named_parameters() if not p.requires_grad}
    assert frozen and all(n.startswith(("embed_tokens.", "layers.0.")) for n in frozen)
    assert all(p.requires_grad for n, p in body.named_parameters() if n.startswith("layers.1."))
    trained = body.layers[1].mlp.down_proj.weight.detach().clone()
    trainer.train()
    lrs = {g["initial_lr"] for g in trainer.optimizer.param_groups}
    assert lrs == {1e-3, 5e-2}
    head_ids = {id(p) for p in head.values()}
    for group in trainer.optimizer.param_groups:
        in_head = {id(p) in head_ids for p in group["params"]}
        assert in_head == {group["initial_lr"] == 5e-2}
    assert head["score.weight"].any()
    assert all(torch.equal(p, frozen[n]) for n, p in body.named_parameters() if n in frozen)
    assert not torch.equal(body.layers[1].mlp.down_proj.weight, trained)
    too_deep = reward_config(freeze_layers=99)
    with pytest.raises(ConfigError, match=r"reward.freeze_layers: 99 but the model has 2 layers"):
        reward_trainer(tiny_model_dir, tokenizer, rows, [], too_deep)(
            training_kwargs(too_deep, tmp_path, tmp_path / "ck2"), []
        )


def test_margin_rows_scale_the_judge_gap() -> None:
    rows = reward_rows(known_pairs(2), reward_config(use_margin=True, margin_scale=0.5))
    assert rows[0]["margin"] == 3.5
    assert "margin" not in reward_rows(known_pairs(2), reward_config())[0]
    unscored = known_pairs(1)[0].model_copy(update={"margin": None})
    with pytest.raises(DataCoreError, match="test:0: use_margin needs a margin"):
        reward_rows([unscored], reward_config(use_margin=True))


def test_pad_token_must_differ_from_eos(tokenizer) -> None:
    broken = copy.deepcopy(tokenizer)
    broken.pad_token = broken.eos_token
    with pytest.raises(DataCoreError, match="models/x: the tokenizer needs a pad token distinct"):
        check_pad_token(broken, "models/x")


def test_config_errors_name_the_key(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"params.yaml: reward.learning_rate: "):
        parse({"reward": {"learning_rate": -1}})
    with pytest.raises(ConfigError, match=r"params.yaml: reward.use_margn: unknown key"):
        parse({"reward": {"use_margn": True}})
    with pytest.raises(ConfigError, match=r"reward.sources\[0\].format: "):
        parse({"reward": {"sources": [{"name": "x", "format": "csv", "path": "x.json"}]}})
    paths = StagePaths({"models": {"sft": "models/sft"}}, tmp_path)
    with pytest.raises(ConfigError, match=r"reward.init_from: 'dpo' is not a paths.models entry"):
        parse({"reward": {"init_from": "dpo"}}).start_model(paths)
    with pytest.raises(ConfigError, match=r"reward.init_from: .*models/sft holds no model"):
        parse({"reward": {}}).start_model(paths)
    assert rewardbench_files({}) == []
    assert rewardbench_files({"reward_eval": {"rewardbench_files": ["a.json"]}}) == ["a.json"]
    with pytest.raises(ConfigError, match=r"reward_eval.rewardbench_files: expected a list"):
        rewardbench_files({"reward_eval": {"rewardbench_files": "a.json"}})


def test_default_scorer_loads_paths_models_reward(trained_reward, tmp_path, monkeypatch) -> None:
    out, _ = trained_reward
    params = {"paths": {"models": {"reward": str(out)}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    scorer = default_scorer()
    assert scorer.path == out and scorer.digest == model_fingerprint(out)
    monkeypatch.chdir(out.parent)  # no params.yaml here
    with pytest.raises(ConfigError, match=r"params\.yaml: cannot read"):
        default_scorer()

"""Bradley-Terry reward-model training with TRL's RewardTrainer through the one training
lifecycle, and its held-out figures computed with the scoring API on the trained model."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import torch
from data_core.errors import ConfigError, DataCoreError
from datasets import Dataset
from generation.weights import trl_init_kwargs
from trainers.arguments import model_init_kwargs
from trainers.distributed import is_distributed
from trainers.lifecycle import TrainerFactory, TrainingJob, TrainingResult, run_training
from transformers import TrainerCallback
from transformers.integrations import is_deepspeed_zero3_enabled
from trl import RewardConfig as TrlRewardConfig
from trl import RewardTrainer

from rewards.config import RewardConfig
from rewards.pairs import RewardPair
from rewards.scoring import RewardModel, check_pad_token

# the model card's title and how-to-load line (trainers.card writes the card)
CARD_TITLE = "Reward model (Bradley-Terry, TRL RewardTrainer)"
CARD_USAGE = (
    "Loadable with `AutoModelForSequenceClassification.from_pretrained` (one label: the reward) "
    "and `AutoTokenizer`; `rewards.scoring.RewardModel.load(path).rewards(prompts, responses)` "
    "scores in exactly the training format (chat template, EOS, right padding)."
)


def reward_rows(pairs: Sequence[RewardPair], cfg: RewardConfig) -> list[dict[str, Any]]:
    """TRL rows (explicit conversational prompt), with `margin` when `cfg.use_margin`."""
    scale = cfg.margin_scale if cfg.use_margin else None
    return [p.row(scale) for p in pairs]


def head_parameters(model: Any) -> dict[str, torch.nn.Parameter]:
    """The classifier's parameters outside its transformer body: the new score head."""
    if model.base_model is model:
        raise DataCoreError(f"{type(model).__name__}: no separate body and score head")
    body = {id(p) for p in model.base_model.parameters()}
    return {n: p for n, p in model.named_parameters() if id(p) not in body}


def gathered(params: Sequence[torch.nn.Parameter]) -> AbstractContextManager[Any]:
    """Whole tensors to write into: under ZeRO-3 each rank holds an (often empty) shard, so a
    write needs them gathered (rank 0's values are scattered back on exit)."""
    if not is_deepspeed_zero3_enabled():
        return nullcontext()
    import deepspeed

    return deepspeed.zero.GatheredParameters(list(params), modifier_rank=0)


def prepare_model(model: Any, cfg: RewardConfig) -> None:
    """Score head initialisation and the frozen parts of the body, as `cfg` says."""
    if cfg.score_init == "zero":
        head = list(head_parameters(model).values())
        with gathered(head), torch.no_grad():
            for param in head:
                param.zero_()
    base, frozen = model.base_model, []
    if cfg.freeze_embeddings:
        frozen.append(base.get_input_embeddings())
    if cfg.freeze_layers:
        layers = getattr(base, "layers", None)
        if layers is None or cfg.freeze_layers > len(layers):
            count = "no `layers`" if layers is None else f"{len(layers)} layers"
            raise ConfigError(
                f"params.yaml: reward.freeze_layers: {cfg.freeze_layers} but the model has {count}"
            )
        frozen.extend(layers[: cfg.freeze_layers])
    for module in frozen:
        module.requires_grad_(False)


class _RewardTrainer(RewardTrainer):
    """TRL's RewardTrainer with the score head in its own optimizer groups (its own lr)."""

    def __init__(self, *args: Any, head_learning_rate: float | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.head_learning_rate = head_learning_rate

    def create_optimizer(self, model: Any = None) -> torch.optim.Optimizer:
        opt_model = self.model if model is None else model
        if self.optimizer is None and self.head_learning_rate is not None:
            decay = set(self.get_decay_parameter_names(opt_model))
            head = head_parameters(opt_model)
            groups = []
            for lr, named in (
                (
                    self.args.learning_rate,
                    {n: p for n, p in opt_model.named_parameters() if n not in head},
                ),
                (self.head_learning_rate, head),
            ):
                for decays in (True, False):
                    params = [
                        p for n, p in named.items() if p.requires_grad and (n in decay) == decays
                    ]
                    wd = self.args.weight_decay if decays else 0.0
                    if params:
                        groups.append({"params": params, "weight_decay": wd, "lr": lr})
            optimizer_cls, kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
            self.optimizer = optimizer_cls(groups, **kwargs)
        return super().create_optimizer(model)


def reward_trainer(
    model_path: Path, tokenizer: Any, train: list[dict], test: list[dict], cfg: RewardConfig
) -> TrainerFactory:
    """The factory of a RewardTrainer that loads `model_path` as a 1-label classifier (new
    score head) and trains it on `train` rows."""

    def make_trainer(arguments: dict[str, Any], callbacks: list[TrainerCallback]) -> RewardTrainer:
        args = TrlRewardConfig(
            **arguments,
            max_length=cfg.max_length,
            center_rewards_coefficient=cfg.center_rewards_coefficient,
            model_init_kwargs=trl_init_kwargs(model_path, model_init_kwargs(cfg)),
            disable_dropout=True,
        )
        trainer = _RewardTrainer(
            model=str(model_path),
            head_learning_rate=cfg.head_learning_rate,
            args=args,
            processing_class=tokenizer,
            callbacks=callbacks,
            train_dataset=Dataset.from_list(train),
            eval_dataset=Dataset.from_list(test) if test and cfg.eval_steps else None,
        )
        prepare_model(trainer.model, cfg)
        return trainer

    return make_trainer


def _rate(hits: Sequence[bool]) -> float:
    return round(sum(hits) / len(hits), 6) if hits else 0.0


def pair_accuracy(scorer: RewardModel, pairs: Sequence[RewardPair]) -> dict[str, Any]:
    """Strict accuracy (a tie is wrong) overall and per category, the mean reward margin, and
    the "longer answer wins" baseline on the same pairs."""
    if not pairs:
        return {}
    prompts = [[m.model_dump() for m in p.prompt] for p in pairs]
    for p in pairs:
        if len(p.chosen) != 1 or len(p.rejected) != 1:
            raise DataCoreError(f"pair {p.id}: held-out pairs must end in one assistant turn")
    answers = [p.chosen[0].content for p in pairs] + [p.rejected[0].content for p in pairs]
    both = scorer.rewards(prompts + prompts, answers)
    chosen, rejected = both[: len(pairs)], both[len(pairs) :]
    wins = [c > r for c, r in zip(chosen, rejected, strict=True)]
    longer = [len(p.chosen[0].content) > len(p.rejected[0].content) for p in pairs]
    by_category: dict[str, list[bool]] = defaultdict(list)
    for pair, win in zip(pairs, wins, strict=True):
        by_category[pair.category or "all"].append(win)
    return {
        "pairs": len(pairs),
        "accuracy": _rate(wins),
        "accuracy_by_category": {k: _rate(v) for k, v in sorted(by_category.items())},
        "pairs_by_category": {k: len(v) for k, v in sorted(by_category.items())},
        "margin_mean": round((sum(chosen) - sum(rejected)) / len(pairs), 6),
        "reward_chosen_mean": round(sum(chosen) / len(pairs), 6),
        "reward_rejected_mean": round(sum(rejected) / len(pairs), 6),
        "length_baseline_accuracy": _rate(longer),
    }


def train_reward(
    model_path: Path,
    tokenizer: Any,
    train: Sequence[RewardPair],
    heldout: dict[str, Sequence[RewardPair]],
    cfg: RewardConfig,
    job: TrainingJob,
) -> TrainingResult:
    """Train from `model_path`; return the lifecycle's result with held-out pair accuracy on
    each of `heldout` (e.g. {"test": ..., "dev": ...}) scored by the trained model."""
    if not train:
        raise DataCoreError("reward: no training pairs")
    check_pad_token(tokenizer, model_path)
    if cfg.cpu_threads is not None:
        torch.set_num_threads(cfg.cpu_threads)
    rows = reward_rows(train, cfg)
    test_rows = reward_rows(heldout.get("test", ()), cfg)

    def evaluate(trainer: RewardTrainer) -> dict[str, Any]:
        model = trainer.model
        if model.config.pad_token_id != tokenizer.pad_token_id:
            raise DataCoreError(f"{model_path}: the trained classifier has no pad_token_id set")
        if is_distributed():  # sharded weights: TRL's distributed evaluate (accuracy, margin)
            if not test_rows:
                return {}
            figures = trainer.evaluate(Dataset.from_list(test_rows)).items()
            return {"heldout_test": {k.removeprefix("eval_"): v for k, v in figures}}
        scorer = RewardModel(
            model, tokenizer, batch_size=cfg.per_device_eval_batch_size, max_length=cfg.max_length
        )
        figures = {name: pair_accuracy(scorer, pairs) for name, pairs in heldout.items()}
        return {f"heldout_{name}": value for name, value in figures.items() if value}

    make_trainer = reward_trainer(model_path, tokenizer, rows, test_rows, cfg)
    result = run_training(job, cfg, tokenizer, make_trainer, evaluate=evaluate)
    result.metrics = {
        "loss": "bradley_terry",
        "train_pairs": len(rows),
        "use_margin": cfg.use_margin,
    } | result.metrics
    return result

"""Preference learning from the SFT model with TRL: DPO (sigmoid), NCA (nca_pair), KTO."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from data_core.errors import DataCoreError
from data_core.schemas import Preference
from datasets import Dataset
from transformers import AutoModelForCausalLM, TrainerCallback
from trl import DPOConfig, DPOTrainer, KTOConfig, KTOTrainer

from trainers.arguments import model_init_kwargs
from trainers.config import LOSSES, LossConfig, PreferenceConfig
from trainers.distributed import is_distributed
from trainers.heldout import pair_logps, preference_accuracy
from trainers.lifecycle import TrainerFactory, TrainingJob, TrainingResult, run_training

log = logging.getLogger(__name__)

DPO_LOSS_TYPE = {"dpo": "sigmoid", "nca": "nca_pair"}


def _completion(prompt: list[dict], messages: list[dict]) -> list[dict]:
    """The turns after the prompt: records may store chosen/rejected as whole conversations."""
    return messages[len(prompt) :] if messages[: len(prompt)] == prompt else messages


def pair_rows(records: Sequence[Preference], split: str, limit: int | None) -> list[dict]:
    """Conversational DPO rows (prompt / chosen / rejected message lists) of one split."""
    rows = []
    for r in records:
        if (r.split or "train") != split:
            continue
        prompt = [m.model_dump() for m in r.prompt]
        chosen = _completion(prompt, [m.model_dump() for m in r.chosen])
        rejected = _completion(prompt, [m.model_dump() for m in r.rejected])
        if not chosen or not rejected:
            raise DataCoreError(f"preference {r.id}: chosen/rejected add no turn to the prompt")
        rows.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
    return rows[:limit] if limit is not None else rows


def unpaired_rows(pairs: Sequence[dict]) -> list[dict]:
    """KTO's unpaired format: each pair gives a desirable and an undesirable example."""
    rows = []
    for p in pairs:
        rows.append({"prompt": p["prompt"], "completion": p["chosen"], "label": True})
        rows.append({"prompt": p["prompt"], "completion": p["rejected"], "label": False})
    return rows


def preference_trainer(
    loss: str,
    model_path: Path,
    tokenizer: Any,
    train: list[dict],
    test: list[dict],
    cfg: PreferenceConfig,
    reference: Path | None = None,
) -> TrainerFactory:
    """The factory of `loss`'s TRL trainer, starting from `model_path`.

    The frozen reference is `reference` when given (online DPO: the initial policy), else TRL's
    copy of `model_path`.
    """

    def make_trainer(
        arguments: dict[str, Any], callbacks: list[TrainerCallback]
    ) -> DPOTrainer | KTOTrainer:
        common = arguments | {"max_length": cfg.max_length, "beta": cfg.beta}
        ref_model = None
        if reference is not None and Path(reference) != Path(model_path):
            ref_model = AutoModelForCausalLM.from_pretrained(
                reference, trust_remote_code=False, **model_init_kwargs(cfg)
            )
        if loss in DPO_LOSS_TYPE:
            return DPOTrainer(
                model=str(model_path),
                ref_model=ref_model,
                args=DPOConfig(**common, loss_type=[DPO_LOSS_TYPE[loss]]),
                processing_class=tokenizer,
                callbacks=callbacks,
                train_dataset=Dataset.from_list(train),
                eval_dataset=Dataset.from_list(test) if test else None,
            )
        over: LossConfig = getattr(cfg, loss)
        weights = {
            "desirable_weight": over.desirable_weight,
            "undesirable_weight": over.undesirable_weight,
        }
        return KTOTrainer(
            model=str(model_path),
            ref_model=ref_model,
            args=KTOConfig(**common, **weights),
            processing_class=tokenizer,
            callbacks=callbacks,
            train_dataset=Dataset.from_list(unpaired_rows(train)),
            eval_dataset=Dataset.from_list(unpaired_rows(test)) if test else None,
        )

    return make_trainer


def train_preference(
    loss: str,
    model_path: Path,
    tokenizer: Any,
    train: list[dict],
    test: list[dict],
    cfg: PreferenceConfig,
    job: TrainingJob,
    reference: Path | None = None,
) -> TrainingResult:
    """Train `loss` (dpo | kto | nca) from the model at `model_path`; return held-out figures.

    `reference`: the frozen reference model's dir (default: `model_path` itself).
    """
    if loss not in LOSSES:
        raise DataCoreError(f"unknown preference loss {loss!r}; known: {', '.join(LOSSES)}")
    if not train:
        raise DataCoreError(f"{loss}: no training pairs")
    cfg = cfg.for_loss(loss)
    local = bool(test) and not is_distributed()  # sharded models: rely on TRL's eval metrics

    def logps(model: Any) -> tuple[list[float], list[float]]:
        return pair_logps(model, tokenizer, test, cfg.max_length, cfg.per_device_eval_batch_size)

    ref_logps = None
    if local:  # the reference's log-probs serve both "before" (policy = reference) and "after"
        ref = AutoModelForCausalLM.from_pretrained(
            reference or model_path, trust_remote_code=False, **model_init_kwargs(cfg)
        )
        ref_logps = logps(ref)
        del ref
    before = preference_accuracy(ref_logps, ref_logps, cfg.beta) if local else {}

    def evaluate(trainer: DPOTrainer | KTOTrainer) -> dict[str, Any]:
        if local:
            after = preference_accuracy(logps(trainer.model), ref_logps, cfg.beta)
        elif test:
            evaluated = trainer.evaluate().items()
            after = {k.removeprefix("eval_").replace("/", "_"): v for k, v in evaluated}
        else:
            after = {}
        return {f"heldout_{loss}_{k}": v for k, v in after.items() if k != "pairs"}

    make_trainer = preference_trainer(loss, model_path, tokenizer, train, test, cfg, reference)
    result = run_training(job, cfg, tokenizer, make_trainer, evaluate=evaluate)
    result.metrics = (
        {
            "loss_type": DPO_LOSS_TYPE.get(loss, "kto"),
            "beta": cfg.beta,
            "train_pairs": len(train),
            "test_pairs": len(test),
        }
        | result.metrics
        | {f"heldout_sft_{k}": v for k, v in before.items() if k != "pairs"}
    )
    return result

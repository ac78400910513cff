"""Preference learning from the SFT model with TRL: DPO (sigmoid), NCA (nca_pair), KTO."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from data_core.errors import DataCoreError
from data_core.schemas import Preference
from datasets import Dataset
from generation.weights import load_pretrained, trl_init_kwargs
from transformers import AutoModelForCausalLM, TrainerCallback
from trl import DPOConfig, DPOTrainer, KTOConfig, KTOTrainer

from trainers.arguments import is_zero3, model_init_kwargs
from trainers.config import LOSSES, LossConfig, PreferenceConfig
from trainers.distributed import is_distributed
from trainers.heldout import pair_logps, preference_accuracy
from trainers.lifecycle import TrainerFactory, TrainingJob, TrainingResult, run_training

log = logging.getLogger(__name__)

DPO_LOSS_TYPE = {"dpo": "sigmoid", "nca": "nca_pair"}
REF_CACHE = "ref_logps"  # under the checkpoints' parent: persistent, not a DVC output


def content_fingerprint(dataset: Dataset, *extra: Any) -> str:
    """A digest of a dataset's rows in order (plus `extra`): equal content, equal fingerprint."""
    digest = hashlib.sha256(json.dumps(extra, default=str).encode())
    for batch in dataset.iter(batch_size=256):
        digest.update(json.dumps(batch, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:32]


def persisted(dataset: Dataset, cache_dir: Path, *extra: Any) -> Dataset:
    """`dataset` backed by an Arrow file in `cache_dir`, its fingerprint its content's digest.

    An in-memory dataset has a random fingerprint and no cache dir, so TRL's reference log-prob
    cache (a file named after the fingerprint and the model's weights, next to the dataset's own
    file) would never be found again; backed here, every trainer and every re-run that tokenizes
    the same pairs finds it. Files are written to a temporary name and renamed (datasets' map).
    """
    fingerprint = content_fingerprint(dataset, *extra)
    path = Path(cache_dir) / f"rows-{fingerprint}.arrow"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        dataset.flatten_indices(cache_file_name=str(path), new_fingerprint=fingerprint)
    backed = Dataset.from_file(str(path))
    backed._fingerprint = fingerprint
    return backed


class _PersistentRefLogps:
    """Mixin: TRL's precomputed reference log-probs cached on disk under `ref_cache`."""

    ref_cache: Path | None = None

    def _precompute_ref_logps(self, dataset: Dataset, name: str, batch_size: int) -> Dataset:
        if self.ref_cache is not None:  # keyed by the tokenized rows and what else changes logps
            args = self.args  # type: ignore[attr-defined]
            key = (type(self).__name__, getattr(self, "ld_alpha", None), args.bf16, args.fp16)
            dataset = persisted(dataset, self.ref_cache, *key)
        return super()._precompute_ref_logps(dataset, name, batch_size)  # type: ignore[misc]


class CachedDPOTrainer(_PersistentRefLogps, DPOTrainer):
    """DPOTrainer whose precomputed reference log-probs persist across stages and runs."""

    def __init__(self, *args: Any, ref_cache: Path | None = None, **kwargs: Any) -> None:
        self.ref_cache = ref_cache
        super().__init__(*args, **kwargs)


class CachedKTOTrainer(_PersistentRefLogps, KTOTrainer):
    """KTOTrainer whose precomputed reference log-probs persist across runs."""

    def __init__(self, *args: Any, ref_cache: Path | None = None, **kwargs: Any) -> None:
        self.ref_cache = ref_cache
        super().__init__(*args, **kwargs)


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
    ref_cache: Path | None = None,
) -> TrainerFactory:
    """The factory of `loss`'s TRL trainer, starting from `model_path`.

    The frozen reference is `reference` when given (online DPO: the initial policy), else TRL's
    copy of `model_path`. With `cfg.precompute_ref_log_probs` its log-probs are computed once
    before training (no reference model in memory while training) and, given `ref_cache`, kept
    there for every later trainer on the same pairs and reference (dpo and nca, re-runs).
    """

    def make_trainer(
        arguments: dict[str, Any], callbacks: list[TrainerCallback]
    ) -> DPOTrainer | KTOTrainer:
        common = arguments | {
            "max_length": cfg.max_length,
            "beta": cfg.beta,
            "precompute_ref_log_probs": cfg.precompute_ref_log_probs,
            "precompute_ref_batch_size": cfg.precompute_ref_batch_size,
            # TRL loads the policy (and its own reference copy) itself, after the config exists
            # (so under ZeRO-3 partitioned at load), in the configured dtype and attention
            "model_init_kwargs": trl_init_kwargs(model_path, model_init_kwargs(cfg)),
        }
        cache = ref_cache if cfg.precompute_ref_log_probs else None
        if loss in DPO_LOSS_TYPE:
            args: DPOConfig | KTOConfig = DPOConfig(**common, loss_type=[DPO_LOSS_TYPE[loss]])
        else:
            over: LossConfig = getattr(cfg, loss)
            weights = {
                "desirable_weight": over.desirable_weight,
                "undesirable_weight": over.undesirable_weight,
            }
            args = KTOConfig(**common, **weights)
        ref_model = None  # a separate reference is loaded once `args` is live (ZeRO-3)
        if reference is not None and Path(reference) != Path(model_path):
            ref_model = load_pretrained(AutoModelForCausalLM, reference, **model_init_kwargs(cfg))
        if loss in DPO_LOSS_TYPE:
            return CachedDPOTrainer(
                ref_cache=cache,
                model=str(model_path),
                ref_model=ref_model,
                args=args,
                processing_class=tokenizer,
                callbacks=callbacks,
                train_dataset=Dataset.from_list(train),
                eval_dataset=Dataset.from_list(test) if test else None,
            )
        return CachedKTOTrainer(
            ref_cache=cache,
            model=str(model_path),
            ref_model=ref_model,
            args=args,
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
    # sharded models (multi-process, or ZeRO-3 partitioned at load): rely on TRL's eval metrics
    local = bool(test) and not is_distributed() and not is_zero3(cfg, job.root)

    def logps(model: Any) -> tuple[list[float], list[float]]:
        return pair_logps(model, tokenizer, test, cfg.max_length, cfg.per_device_eval_batch_size)

    ref_logps = None
    if local:  # the reference's log-probs serve both "before" (policy = reference) and "after"
        ref = load_pretrained(
            AutoModelForCausalLM, reference or model_path, **model_init_kwargs(cfg)
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

    # TRL's own evaluation runs only when asked for (eval_steps) or when sharded
    trainer_test = test if (cfg.eval_steps or not local) else []
    ref_cache = job.checkpoints.parent / REF_CACHE
    make_trainer = preference_trainer(
        loss, model_path, tokenizer, train, trainer_test, cfg, reference, ref_cache
    )
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

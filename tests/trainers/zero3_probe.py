"""Run every training path that creates a model under a ZeRO-3 DeepSpeed config, up to the
moment it creates it; print what each saw as JSON (`python -m tests.trainers.zero3_probe`).

A separate process because it starts a (one-rank) torch.distributed group and DeepSpeed's
global config, neither of which a pytest session should keep. Each path runs its real training
function; only the creating call is wrapped: it asks `is_deepspeed_zero3_enabled()`, creates
the model for real, checks its parameters are partitioned (deepspeed.zero.Init gives each an
empty local tensor and a `ds_numel`), then stops the run before training.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import deepspeed
import trl.trainer.dpo_trainer as trl_dpo
import trl.trainer.kto_trainer as trl_kto
import trl.trainer.reward_trainer as trl_reward
from rewards.training import head_parameters, prepare_model, train_reward
from trainers import preference, pretrain, sft
from trainers.arguments import training_kwargs
from trainers.config import PreferenceConfig, PretrainConfig, SftConfig, TokenizerConfig
from trainers.lifecycle import TrainingJob
from trainers.model_dir import save_model_dir
from trainers.pretrain import new_model
from trainers.sft import conversations
from trainers.tokenizer import train_bpe
from transformers import AutoModelForSequenceClassification, TrainingArguments
from transformers.integrations import is_deepspeed_zero3_enabled

from tests.rewards.conftest import known_pairs, reward_config
from tests.trainers.conftest import TINY_MODEL, corpus, instructions, preferences

ROOT = Path(__file__).resolve().parents[2]
ZERO3 = "configs/deepspeed/zero3.json"
SMALL = {"max_steps": 1, "per_device_train_batch_size": 2, "max_length": 64, "deepspeed": ZERO3}


class Created(Exception):
    """Raised right after the model is created: what was seen, and the run stops there."""

    def __init__(self, seen: dict[str, Any]) -> None:
        super().__init__("model created")
        self.seen = seen


def probing(create: Callable[..., Any]) -> Callable[..., Any]:
    """`create`, wrapped: the flag at the call, then the real model's partitioning."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        zero3 = is_deepspeed_zero3_enabled()
        model = create(*args, **kwargs)
        params = list(model.parameters())
        raise Created(
            {
                "zero3_at_creation": zero3,
                "partitioned": all(hasattr(p, "ds_numel") and p.numel() == 0 for p in params),
                "parameters": sum(getattr(p, "ds_numel", p.numel()) for p in params),
            }
        )

    return wrapper


def probe(module: Any, name: str, run: Callable[[], Any]) -> dict[str, Any]:
    """Run `run` with `module.name` wrapped; what the creating call saw."""
    real = getattr(module, name)
    setattr(module, name, probing(real))
    try:
        run()
    except Created as created:
        return created.seen
    finally:
        setattr(module, name, real)
    return {"error": "the run finished without creating a model through the probed call"}


def reward_head(model_dir: Path, work: Path) -> dict[str, Any]:
    """score_init: zero on a partitioned classifier: the head's whole tensors, before and after."""
    cfg = reward_config(**SMALL, score_init="zero")
    args = TrainingArguments(**training_kwargs(cfg, ROOT, work / "ck-head"))  # noqa: F841 (live)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=1)
    head = list(head_parameters(model).values())

    def total() -> float:
        with deepspeed.zero.GatheredParameters(head):
            return float(sum(p.abs().sum() for p in head))

    before = total()
    prepare_model(model, cfg)
    return {"zero3": is_deepspeed_zero3_enabled(), "before": before, "after": total()}


def main(out: Path) -> None:
    texts = corpus() + [m.content for r in instructions() for m in r.messages]
    tok = train_bpe(texts, TokenizerConfig(vocab_size=400, min_frequency=1))  # as conftest's
    work = Path(tempfile.mkdtemp(prefix="zero3-probe-"))
    model_dir, other_dir = work / "tiny", work / "other"
    for seed, folder in ((0, model_dir), (1, other_dir)):  # before any DeepSpeed config exists
        save_model_dir(new_model(TINY_MODEL, tok, seed=seed), tok, folder)

    def job(name: str) -> TrainingJob:
        return TrainingJob(ROOT, work / name, work / "ck" / name, {"probe": name})

    recs, prefs = instructions(), preferences()
    chats = conversations(recs, "train", 8), conversations(recs, "test", 4)
    pairs = preference.pair_rows(prefs, "train", 8), preference.pair_rows(prefs, "test", 4)
    pref_cfg = PreferenceConfig(**SMALL, output_dir="x")
    seen = {
        "pretrain_random_init": probe(
            pretrain,
            "new_model",
            lambda: pretrain.pretrain(
                corpus(), [], tok, TINY_MODEL, PretrainConfig(**SMALL), job("base")
            ),
        ),
        "sft": probe(
            sft,
            "load_pretrained",
            lambda: sft.train_sft(model_dir, tok, *chats, SftConfig(**SMALL), job("sft")),
        ),
        "dpo_policy": probe(
            trl_dpo,
            "create_model_from_path",
            lambda: preference.train_preference("dpo", model_dir, tok, *pairs, pref_cfg, job("d")),
        ),
        "dpo_separate_reference": probe(
            preference,
            "load_pretrained",
            lambda: preference.train_preference(
                "dpo", model_dir, tok, *pairs, pref_cfg, job("o"), reference=other_dir
            ),
        ),
        "kto_policy": probe(
            trl_kto,
            "create_model_from_path",
            lambda: preference.train_preference("kto", model_dir, tok, *pairs, pref_cfg, job("k")),
        ),
        "reward_model": probe(
            trl_reward,
            "create_model_from_path",
            lambda: train_reward(
                model_dir, tok, known_pairs(8), {}, reward_config(**SMALL), job("reward")
            ),
        ),
    }
    seen["reward_head_zeroed"] = reward_head(model_dir, work)
    out.write_text(json.dumps(seen, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]))

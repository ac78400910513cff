"""A scratch repository the real training stages run in: tiny params, toy HPO knowledge, a BPE
tokenizer, SFT and preference sets. The stages then run as they do under DVC (`python
stages/<stage>.py --root ROOT`), each reading the previous one's model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from data_core.config import load_params
from data_core.io import write_records
from data_core.schemas import Instruction, Passage, Preference
from trainers.config import TokenizerConfig
from trainers.model_dir import save_tokenizer
from trainers.tokenizer import train_bpe

from tests.fixtures.toy_hpo import TOY_DOMAIN, write_toy_hpo
from tests.trainers.conftest import TINY_MODEL, corpus, instructions, preferences

ROOT = Path(__file__).resolve().parents[2]
# every stage checkpoints every 2 steps and logs every step; no time budget (it would make the
# number of steps depend on the machine's speed)
TRAIN: dict[str, Any] = {
    "per_device_train_batch_size": 4,
    "max_length": 64,
    "logging_steps": 1,
    "save_steps": 2,
    "save_total_limit": 2,
    "max_time_s": None,
}
# stage -> (command line after the script, model dir, metrics file, steps)
STAGES: dict[str, tuple[list[str], str, str, int]] = {
    "pretrain": (["stages/pretrain.py"], "models/base", "metrics/pretrain.json", 12),
    "sft": (["stages/sft.py"], "models/sft", "metrics/sft.json", 10),
    "dpo": (["stages/preference.py", "--loss", "dpo"], "models/dpo", "metrics/dpo.json", 10),
}


def params() -> dict[str, Any]:
    """params.yaml of the scratch repo: the real layout, a tiny model, a few steps per stage."""
    steps = {name: spec[3] for name, spec in STAGES.items()}
    return {
        "paths": load_params(ROOT / "params.yaml")["paths"],
        "knowledge": TOY_DOMAIN.model_dump(),
        "model": TINY_MODEL.model_dump(),
        "pretrain": {
            **TRAIN,
            "learning_rate": 5e-3,
            "max_steps": steps["pretrain"],
            "knowledge": {"variants": 1},
            "passages_limit": 40,
            "eval_fraction": 0.1,
        },
        "sft": {**TRAIN, "learning_rate": 5e-3, "max_steps": steps["sft"], "max_eval_records": 8},
        "preference": {
            **TRAIN,
            "learning_rate": 1e-3,
            "max_steps": steps["dpo"],
            "max_eval_records": 8,
        },
    }


def passages(n: int = 44) -> list[Passage]:
    """Definition-like passages; pretrain holds a few out for its eval loss."""
    texts = corpus()
    return [
        Passage(id=f"toy:{i}", source="toy", title=f"Term {i}", text=texts[i % len(texts)])
        for i in range(n)
    ]


def build_root(root: Path) -> Path:
    """Write params, the inputs of pretrain (tokenizer, toy HPO, passages) and of sft/dpo."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(yaml.safe_dump(params()), encoding="utf-8")
    write_toy_hpo(root / "data/interim", n_diseases=24)  # hpo_diseases.parquet, as ingest writes
    write_records(root / "data/clean/passages.parquet", passages(), Passage)
    write_records(root / "data/sets/sft.parquet", instructions(48), Instruction)
    write_records(root / "data/sets/preferences.parquet", preferences(40), Preference)
    texts = corpus() + [m.content for r in instructions() for m in r.messages]
    tokenizer = train_bpe(texts, TokenizerConfig(vocab_size=400, min_frequency=1))
    save_tokenizer(tokenizer, root / "models/tokenizer")
    return root

"""Tiny fixtures for the trainers tests: a tokenizer, a 2-layer Llama, SFT and preference data."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from data_core.schemas import Instruction, Message, Preference
from trainers.config import ModelConfig, TokenizerConfig
from trainers.model_dir import save_model_dir
from trainers.pretrain import new_model
from trainers.tokenizer import train_bpe
from transformers import TrainerCallback

FINDINGS = [
    "fever",
    "rash",
    "cough",
    "seizure",
    "ataxia",
    "anemia",
    "myopia",
    "deafness",
    "scoliosis",
    "hypotonia",
    "cataract",
    "tremor",
]
DISEASES = {f"Syndrome {c}": random.Random(c).sample(FINDINGS, 4) for c in "ABCDEFGH"}
TINY_MODEL = ModelConfig(
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=256,
)


def corpus() -> list[str]:
    """Knowledge-like sentences about the made-up diseases."""
    return [f"{d} is characterized by {', '.join(f)}." for d, f in DISEASES.items()] * 3


def instructions(n: int = 48) -> list[Instruction]:
    """Diagnosis questions (user) with the right disease as the answer (assistant)."""
    rng = random.Random(0)
    names = sorted(DISEASES)
    out = []
    for i in range(n):
        name = names[i % len(names)]
        shown = rng.sample(DISEASES[name], 3)
        out.append(
            Instruction(
                id=f"test:{i}",
                source="test",
                type="open",
                messages=[
                    Message(role="system", content="Answer with the disease name."),
                    Message(role="user", content=f"A patient has {', '.join(shown)}. Diagnosis?"),
                    Message(role="assistant", content=f"The diagnosis is {name}."),
                ],
                split="test" if i % 6 == 0 else "train",
            )
        )
    return out


def preferences(n: int = 32) -> list[Preference]:
    """Pairs: the right disease is chosen, another one rejected."""
    out = []
    names = sorted(DISEASES)
    for rec in instructions(n):
        right = rec.messages[-1].content
        wrong = names[(names.index(right.removeprefix("The diagnosis is ").rstrip(".")) + 3) % 8]
        out.append(
            Preference(
                id=rec.id,
                prompt=rec.messages[:-1],
                chosen=[Message(role="assistant", content=right)],
                rejected=[Message(role="assistant", content=f"The diagnosis is {wrong}.")],
                chosen_model="gold",
                rejected_model="noisy",
                chosen_score=9,
                rejected_score=2,
                margin=7,
                category="easy",
                source="test",
                split=rec.split,
            )
        )
    return out


@pytest.fixture(scope="session")
def tokenizer():
    """A byte-level BPE with the Llama-3 special tokens and chat template, trained on the corpus."""
    texts = corpus() + [m.content for r in instructions() for m in r.messages]
    return train_bpe(texts, TokenizerConfig(vocab_size=400, min_frequency=1))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, tokenizer) -> Path:
    """A random 2-layer Llama saved as a model dir (TRL loads references from paths)."""
    out = tmp_path_factory.mktemp("models") / "tiny"
    save_model_dir(new_model(TINY_MODEL, tokenizer, seed=0), tokenizer, out)
    return out


class Crash(RuntimeError):
    """The simulated interruption (a killed job)."""


class CrashAt(TrainerCallback):
    """Raises Crash at the end of training step `step`, as a killed job would stop."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise Crash(f"killed at step {self.step}")

"""build's benchmark screen: a synthesized or evolved instruction, or a panel completion, that
copies a benchmark item leaves before the sets are built, so it never becomes an SFT record, an
SFT target or a chosen/rejected response; each leaves a row in the build's removal table.

The manual instructions (data/clean/instructions.parquet) are not screened here: the
decontaminate stage screened them against the same benchmarks with the same config.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_core.config import DecontaminateConfig, load_params, parse_section
from data_core.schemas import Completion, EvalItem, Instruction
from data_core.screen import Removal, Screen, write_removals

STAGE = "build"


@dataclass
class Screened:
    """What build keeps of the synthesized data, what it removed, and the counts per kind."""

    instructions: list[Instruction]
    completions: list[Completion]
    removed: list[Removal]
    counts: dict[str, Any]  # kind -> screened, removed per reason, kept (metrics "contamination")

    def write(self, path: Path) -> None:
        """The removal table (data_core.screen's schema), written atomically."""
        write_removals(path, self.removed)


def completion_id(completion: Completion) -> str:
    """A completion's id in the removal table (a completion has none of its own)."""
    return f"{completion.prompt_id}@{completion.model}/{completion.sample}"


def instruction_text(record: Instruction) -> str:
    """Every message: the question, its options and the reference answer."""
    return "\n".join(m.content for m in record.messages)


def screen_build(
    instructions: Sequence[Instruction],
    completions: Sequence[Completion],
    eval_items: Sequence[EvalItem],
    cfg: DecontaminateConfig,
) -> Screened:
    """Every synthesized instruction (all its text) and every panel completion, screened."""
    screen = Screen(eval_items, cfg, STAGE)
    kept_i, removed_i = screen.split(instructions, instruction_text, "instruction")
    kept_c, removed_c = screen.split(completions, lambda c: c.text, "completion", completion_id)
    removed = removed_i + removed_c
    return Screened(kept_i, kept_c, removed, screen.counts(removed))


def screen_config(root: Path) -> DecontaminateConfig:
    """params.yaml `decontaminate:`, the one place the screening rules are set."""
    return parse_section(load_params(root / "params.yaml"), "decontaminate", DecontaminateConfig)

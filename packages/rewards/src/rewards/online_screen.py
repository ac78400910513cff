"""Online DPO's benchmark screen: a policy response that copies a benchmark item leaves its round
before the reward model scores it, so no DPO pair (chosen or rejected) trains on it. The prompts
come from the SFT set, which `build` screened; the responses are new text, screened here.

Each round keeps its removal rows and screened count in its finished marker, so a resumed run
writes the same removal table as an uninterrupted one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data_core.config import DecontaminateConfig, parse_section
from data_core.io import read_records
from data_core.schemas import EvalItem
from data_core.screen import Removal, Screen
from pydantic import BaseModel

from rewards.online_pairs import PromptSamples

STAGE = "online_dpo"
KIND = "online_response"


class OnlineResponse(BaseModel):
    """One sampled response, as the removal table keeps it."""

    id: str  # "<prompt id>@round<i>/<sample>"
    round: int
    prompt_id: str
    sample: int
    text: str


@dataclass
class ScreenedRound:
    """A round's groups without their matched responses, and what left."""

    groups: list[PromptSamples]
    removed: list[Removal] = field(default_factory=list)
    screened: int = 0
    dropped: Counter[str] = field(default_factory=Counter)  # prompts left with < 2 responses

    def record(self) -> dict[str, Any]:
        """What the round's marker keeps (JSON)."""
        return {"screened": self.screened, "removed": [r.model_dump() for r in self.removed]}


def screen_round(
    groups: Sequence[PromptSamples], screen: Screen | None, round_: int
) -> ScreenedRound:
    """Drop every response a benchmark item matches (rewards are not filled in yet); a prompt
    left with fewer than two responses cannot make a pair: it is dropped as `contaminated`."""
    if screen is None:
        return ScreenedRound(list(groups))
    responses = [
        OnlineResponse(
            id=f"{g.record.id}@round{round_}/{k}",
            round=round_,
            prompt_id=g.record.id,
            sample=k,
            text=text,
        )
        for g in groups
        for k, text in enumerate(g.texts)
    ]
    kept, removed = screen.split(responses, lambda r: r.text, KIND)
    left = {(r.prompt_id, r.sample) for r in kept}
    out = ScreenedRound([], removed, len(responses))
    for g in groups:
        keep = [k for k in range(len(g.texts)) if (g.record.id, k) in left]
        if len(keep) < 2:
            out.dropped["contaminated"] += 1
            continue
        texts, tokens = [g.texts[k] for k in keep], [g.tokens[k] for k in keep]
        out.groups.append(PromptSamples(g.record, g.messages, texts, [], tokens))
    return out


def round_removals(rounds: Sequence[Mapping[str, Any]]) -> tuple[list[Removal], int]:
    """Every round's removal rows, in round order, and the responses screened in all."""
    screens = [r["screen"] for r in rounds if r.get("screen") is not None]
    removed = [Removal(**row) for s in screens for row in s["removed"]]
    return removed, sum(s["screened"] for s in screens)


def counts(removed: Sequence[Removal], screened: int) -> dict[str, Any]:
    """metrics "contamination": screened, removed per reason, kept (data_core.screen's shape)."""
    reasons = Counter(r.reason for r in removed)
    return {
        KIND: {
            "screened": screened,
            "removed": dict(sorted(reasons.items())),
            "kept": screened - len(removed),
        }
    }


def online_screen(params: dict[str, Any], eval_items: Path) -> tuple[Screen, dict[str, Any]]:
    """The stage's screen (params `decontaminate:` over the benchmark items) and its rules as
    stage params (`{"decontaminate": ...}`: the fingerprint and the model card's recipe)."""
    cfg = parse_section(params, "decontaminate", DecontaminateConfig)
    screen = Screen(read_records(eval_items, EvalItem), cfg, STAGE)
    return screen, {"decontaminate": cfg.model_dump(include={"ngram", "short_items"})}

"""Step 4, completions from a panel of models (n samples each), resumable through the cache."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from typing import Any

from data_core.schemas import Completion, Instruction
from generation import Generator, Request, Sampling, as_messages
from tqdm import tqdm

from synth.config import SampleConfig


def stable_order(records: list[Instruction], salt: str = "sample") -> list[Instruction]:
    """Records ordered by a hash of their id: a subset stays the same when others are added."""
    return sorted(records, key=lambda r: hashlib.sha256(f"{salt}\0{r.id}".encode()).hexdigest())


def prompt_messages(record: Instruction) -> list[dict[str, str]]:
    """The conversation up to (not including) the reference answer."""
    messages = as_messages(record.messages)
    while messages and messages[-1]["role"] == "assistant":
        messages.pop()
    return messages


def panel_requests(
    records: list[Instruction], cfg: SampleConfig, member_n: int, grounded: bool, seed: int
) -> list[tuple[str, Request]]:
    """(prompt id, request) for every record and sample index of one panel member."""
    s = cfg.sampling
    sampling = Sampling(s.temperature, s.top_p, s.max_tokens)
    out = []
    for record in records:
        # Only the kb teacher reads the grounding; LLMs get the bare prompt (and a smaller key).
        context = dict(record.meta) if grounded else {}
        for k in range(member_n):
            out.append((record.id, Request(prompt_messages(record), sampling, seed, k, context)))
    return out


def sample(
    records: list[Instruction], cfg: SampleConfig, backends: Mapping[str, Generator], seed: int
) -> tuple[list[Completion], dict[str, Any]]:
    """Every enabled panel member answers its share of the records, `n` times each.

    Work goes in chunks through cached backends, so a killed run loses at most the chunk in
    flight and a re-run only generates what the cache lacks.
    """
    chosen = stable_order(records)[: cfg.max_instructions]
    jobs: list[tuple[str, str, Request]] = []
    for member in (m for m in cfg.panel if m.enabled):
        subset = chosen[: member.max_instructions]
        grounded = backends[member.backend].kind == "kb"
        jobs += [
            (member.backend, pid, req)
            for pid, req in panel_requests(subset, cfg, member.n, grounded, seed)
        ]
    completions: list[Completion] = []
    with tqdm(total=len(jobs), desc="sample", unit="req", mininterval=1.0, smoothing=0.1) as bar:
        for name in dict.fromkeys(j[0] for j in jobs):
            mine = [j for j in jobs if j[0] == name]
            for lo in range(0, len(mine), cfg.chunk):
                chunk = mine[lo : lo + cfg.chunk]
                generations = backends[name].generate([req for _, _, req in chunk])
                for (_, pid, req), gen in zip(chunk, generations, strict=True):
                    completions.append(
                        Completion(
                            prompt_id=pid,
                            model=name,
                            sample=req.sample,
                            text=gen.text,
                            finish_reason=gen.finish_reason,
                            prompt_tokens=gen.prompt_tokens,
                            completion_tokens=gen.completion_tokens,
                            latency_s=gen.latency_s,
                        )
                    )
                bar.update(len(chunk))
    # Results only: timings and cache traffic are the stage's MLflow material.
    metrics = {
        "instructions": len(chosen),
        "completions": len(completions),
        "by_model": dict(Counter(c.model for c in completions)),
    }
    return completions, metrics

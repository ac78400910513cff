"""build screens the synthesized data against the benchmarks: a synthesized instruction and a panel
completion that copy real MedQA questions are removed before the sets are built, and the removal
table names the stage, the rule and the matched item."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from data_core.config import DecontaminateConfig
from data_core.io import read_records, write_records
from data_core.readers import read_source
from data_core.schemas import Completion, EvalItem, Instruction, Judgement, Message, Preference
from data_core.screen import read_removals
from synth.build import build_sets
from synth.build_screen import completion_id, screen_build
from synth.config import BuildConfig

REPO = Path(__file__).resolve().parents[2]
PATHS = yaml.safe_load((REPO / "params.yaml").read_text())["paths"]


@pytest.fixture
def medqa(shared_data: Path) -> list[EvalItem]:
    """The real MedQA test questions (1,273), as ingest reads them."""
    return read_source(shared_data / "benchmarks/medqa/test.jsonl", "medqa", "medqa").records


def _instruction(i: int, question: str) -> Instruction:
    return Instruction(
        id=f"synth-kb:{i}",
        source="synth-kb",
        type="mc",
        options={"A": "Marfan syndrome", "B": "Ehlers-Danlos syndrome"},
        answer="A",
        messages=[
            Message(role="user", content=f"{question}\nA. Marfan syndrome\nB. Ehlers-Danlos"),
            Message(role="assistant", content="The answer is A. Marfan syndrome."),
        ],
        meta={"kind": "diagnosis"},
    )


def _judged(prompt_id: str, model: str, sample: int, text: str, score: float, ok: bool):
    return (
        Completion(prompt_id=prompt_id, model=model, sample=sample, text=text),
        Judgement(
            prompt_id=prompt_id, model=model, sample=sample, score=score, judge="kb", verified=ok
        ),
    )


def synthetic(medqa: list[EvalItem]) -> tuple[list[Instruction], list[Completion], list[Judgement]]:
    """Six synthesized instructions with three judged completions each; instruction 1's question
    is MedQA item 10's, and the best completion of instruction 2 pastes MedQA item 20 after its
    answer (so it would be an SFT target and a chosen response)."""
    records = [
        _instruction(i, f"A {20 + i}-year-old with long fingers and lens dislocation number {i}.")
        for i in range(6)
    ]
    records[1] = _instruction(1, medqa[10].question)
    pairs = []
    for r in records:
        pairs.append(_judged(r.id, "kb", 0, "The answer is A. Marfan syndrome.", 9.0, True))
        pairs.append(_judged(r.id, "kb", 1, "The answer is A. Fibrillin-1.", 8.5, True))
        pairs.append(_judged(r.id, "noisy", 0, "The answer is B. Ehlers-Danlos.", 2.0, False))
    planted = f"The answer is A. Marfan syndrome. Compare: {medqa[20].full_text}"
    pairs[2 * 3] = _judged(records[2].id, "kb", 0, planted, 9.5, True)
    return records, [c for c, _ in pairs], [j for _, j in pairs]


def _training_text(sft: list[Instruction], prefs: list[Preference]) -> str:
    messages = [m for r in sft for m in r.messages]
    messages += [m for p in prefs for m in [*p.prompt, *p.chosen, *p.rejected]]
    return "\n".join(m.content for m in messages)


def test_screen_removes_both_copies_and_build_never_sees_them(medqa):
    records, completions, judgements = synthetic(medqa)
    # without the screen, both copies reach the sets: the test plants what build would train on
    sft, prefs, _ = build_sets(records, completions, judgements, [], BuildConfig())
    text = _training_text(sft, prefs)
    assert medqa[10].question[:80] in text and medqa[20].question[:80] in text

    kept = screen_build(records, completions, medqa, DecontaminateConfig())
    sft, prefs, _ = build_sets(kept.instructions, kept.completions, judgements, [], BuildConfig())
    text = _training_text(sft, prefs)
    assert medqa[10].question[:80] not in text and medqa[20].question[:80] not in text
    assert "synth-kb:1" not in {r.id for r in sft}
    # instruction 2 keeps its next-best verified answer as SFT target and chosen response
    target = next(r for r in sft if r.id == "synth-kb:2").messages[-1].content
    assert target == "The answer is A. Fibrillin-1."
    rows = [(r.id, r.stage, r.kind, r.reason, r.matched_id, r.matched_task) for r in kept.removed]
    assert rows == [
        ("synth-kb:1", "build", "instruction", "ngram_overlap", medqa[10].id, "medqa"),
        ("synth-kb:2@kb/0", "build", "completion", "ngram_overlap", medqa[20].id, "medqa"),
    ]
    assert completion_id(completions[6]) == "synth-kb:2@kb/0"
    assert kept.counts == {
        "completion": {"screened": 18, "removed": {"ngram_overlap": 1}, "kept": 17},
        "instruction": {"screened": 6, "removed": {"ngram_overlap": 1}, "kept": 5},
    }


def test_build_stage_writes_the_removal_table_and_counts(tmp_path, medqa):
    records, completions, judgements = synthetic(medqa)
    files = {
        "synth/scored": (records, Instruction),
        "synth/completions": (completions, Completion),
        "synth/judgements": (judgements, Judgement),
        "clean/instructions": ([], Instruction),  # decontaminate screened the manual data
        "interim/eval_items": (medqa, EvalItem),
    }
    for name, (rows, schema) in files.items():
        write_records(tmp_path / f"data/{name}.parquet", rows, schema)
    params = {
        "paths": PATHS,
        "synth": {"sample": {"panel": [{"backend": "kb"}]}},
        "decontaminate": {},
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    done = subprocess.run(
        [sys.executable, str(REPO / "stages/build.py"), "--root", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    sft = read_records(tmp_path / PATHS["sets"]["sft"], Instruction)
    prefs = read_records(tmp_path / PATHS["sets"]["preferences"], Preference)
    text = _training_text(sft, prefs)
    assert sft and prefs
    assert medqa[10].question[:80] not in text and medqa[20].question[:80] not in text
    removed = read_removals(tmp_path / PATHS["synth"]["removed"])
    assert [(r.id, r.stage, r.reason, r.matched_id) for r in removed] == [
        ("synth-kb:1", "build", "ngram_overlap", medqa[10].id),
        ("synth-kb:2@kb/0", "build", "ngram_overlap", medqa[20].id),
    ]
    assert Completion.model_validate_json(removed[1].record) == completions[6]  # nothing lost
    metrics = json.loads((tmp_path / "metrics/build.json").read_text())
    for c in metrics["contamination"].values():
        assert c["screened"] == c["kept"] + sum(c["removed"].values())
    assert "1 of 6 instructions removed" in (tmp_path / "data/sets/README.md").read_text()

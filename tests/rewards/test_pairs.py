"""Reward pairs: the preference set's splits, the extra-file readers (kept or quarantined with
file, line and field) and decontamination against what the evals score."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from data_core.config import DecontaminateConfig
from data_core.errors import SourceError
from data_core.schemas import EvalItem
from rewards.config import PairSource
from rewards.pairs import decontaminate_pairs, extra_pairs, preference_pairs, read_pairs

from tests.rewards.conftest import known_pairs
from tests.trainers.conftest import preferences

QUESTION = (
    "A 23-year-old pregnant woman at 22 weeks gestation presents with burning upon urination "
    "that started 1 day ago and has been worsening despite drinking more water."
)


def um_row(i: int, prompt: str, **over) -> dict:
    row = {
        "prompt_id": f"p{i}",
        "prompt": prompt,
        "chosen": [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": f"Good answer {i}."},
        ],
        "rejected": [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": f"Bad answer {i}."},
        ],
        "score_chosen": 9.0,
        "score_rejected": 4.5,
    }
    return row | over


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_preference_pairs_split_skip_and_shuffle() -> None:
    records = preferences(24)
    train = preference_pairs(records, "train")
    assert len(train) == 20 and all(not p.id.endswith((":0", ":6", ":12", ":18")) for p in train)
    assert [p.id for p in preference_pairs(records, "train", 5, skip=3)] == [
        p.id for p in train[3:8]
    ]
    shuffled = preference_pairs(records, "train", seed=1)
    assert sorted(p.id for p in shuffled) == sorted(p.id for p in train)
    assert [p.id for p in shuffled] != [p.id for p in train]
    assert preference_pairs(records, "train", seed=1) == shuffled
    pair = preference_pairs(records, "test")[0]
    assert pair.margin == 7 and pair.category == "easy"
    assert [m.role for m in pair.chosen] == ["assistant"]  # the prompt is not repeated


def test_ultramedical_release_rows_parse(tmp_path) -> None:
    path = write_jsonl(tmp_path / "um.jsonl", [um_row(1, "What causes gout?"), um_row(2, "Why?")])
    result = read_pairs(path, "ultramedical", "um")
    assert result.read == 2 and not result.quarantined
    pair = result.records[0]
    assert pair.id == "um:p1" and pair.margin == 4.5
    assert [m.role for m in pair.prompt] == ["user"] and pair.chosen[0].content == "Good answer 1."
    unscored = {k: v for k, v in um_row(3, "Q?").items() if not k.startswith("score")}
    assert read_pairs(write_jsonl(tmp_path / "u.jsonl", [unscored]), "ultramedical", "u")
    assert read_pairs(tmp_path / "u.jsonl", "ultramedical", "u").records[0].margin is None


def test_bad_ultramedical_records_name_file_line_and_field(tmp_path) -> None:
    good = um_row(0, "Q0?")
    bad_role = um_row(1, "Q1?")
    bad_role["chosen"][1]["role"] = "user"
    rows = [
        good,
        bad_role,
        um_row(2, "Q2?", score_chosen=3.0),
        um_row(3, "Another question?") | {"prompt": "Q3?"},
        "{not json",
        {k: v for k, v in um_row(5, "Q5?").items() if k != "rejected"},
        um_row(0, "Q6?"),  # prompt_id p0 again
        um_row(7, "Q7?", chosen=[{"role": "robot", "content": "x"}]),
    ]
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    result = read_pairs(path, "ultramedical", "bad")
    assert [p.id for p in result.records] == ["bad:p0"]
    assert result.read == len(rows)
    problems = {q.line: str(q) for q in result.quarantined}
    assert problems[2] == f"{path}:2: field 'chosen[1].role': the last turn must be 'assistant'"
    assert "field 'score_chosen': 3.0 is not above score_rejected 4.5" in problems[3]
    assert "field 'prompt': is not the last user turn of chosen" in problems[4]
    assert problems[5].startswith(f"{path}:5: invalid JSON")
    assert problems[6] == f"{path}:6: field 'rejected': is missing"
    assert "field 'id': duplicate id 'bad:p0' (first at line 1)" in problems[7]
    assert f"{path}:8: field 'chosen[0].role'" in problems[8]


def test_rewardbench_rows_text_or_messages(tmp_path) -> None:
    rows = [
        {"id": 1, "subset": "med", "prompt": "Q?", "chosen": "Yes.", "rejected": "No."},
        {
            "id": 2,
            "prompt": [{"role": "user", "content": "Q2?"}],
            "chosen": [
                {"role": "user", "content": "Q2?"},
                {"role": "assistant", "content": "A."},
            ],
            "rejected": [{"role": "assistant", "content": "B."}],
        },
        {"id": 3, "prompt": "Q3?", "chosen": "Same.", "rejected": "Same."},
        {"id": 4, "prompt": "", "chosen": "A.", "rejected": "B."},
        {"id": 5, "prompt": "Q5?", "chosen": 7, "rejected": "B."},
    ]
    path = tmp_path / "rb.json"
    path.write_text(json.dumps(rows, indent=1))
    result = read_pairs(path, "rewardbench", "rb")
    assert [(p.id, p.category) for p in result.records] == [("rb:1", "med"), ("rb:2", None)]
    assert [m.content for m in result.records[1].chosen] == ["A."]
    fields = [q.field for q in result.quarantined]
    assert fields == ["rejected", "prompt", "chosen"]
    assert all(q.file == str(path) and q.line > 1 for q in result.quarantined)
    with pytest.raises(SourceError, match="no such file"):
        read_pairs(tmp_path / "missing.json", "rewardbench", "x")


def test_decontamination_removes_planted_benchmark_questions(tmp_path) -> None:
    item = EvalItem(
        id="medqa:7",
        task="medqa",
        question=QUESTION,
        options={"A": "Ampicillin", "B": "Ceftriaxone", "C": "Doxycycline", "D": "Nitrofurantoin"},
        answer="D",
    )
    bench_prompt = "Which enzyme is deficient in classic phenylketonuria in young children?"
    bench = tmp_path / "rewardbench.jsonl"
    write_jsonl(bench, [{"id": 1, "prompt": bench_prompt, "chosen": "PAH.", "rejected": "G6PD."}])
    test_prompt = known_pairs(1)[0].prompt[-1].content  # the preference set's test split
    rows = [
        um_row(1, "What is the first-line treatment of uncomplicated gout flares?"),
        um_row(2, QUESTION + " What is the best treatment?"),
        um_row(3, bench_prompt),
        um_row(4, test_prompt),
    ]
    source = PairSource(name="um", format="ultramedical", path="um.jsonl")
    write_jsonl(tmp_path / "um.jsonl", rows)
    kept, counts = extra_pairs(
        tmp_path, [source], [item], ["rewardbench.jsonl"], known_pairs(1), DecontaminateConfig()
    )
    assert [p.id for p in kept] == ["um:p1"]
    assert counts == {
        "um": {
            "read": 4,
            "quarantined": 0,
            "kept": 1,
            # data_core.screen's reasons: a short question is matched whole (its stem)
            "removed": {"ngram_overlap": 1, "stem_containment": 2},
        }
    }
    removed = decontaminate_pairs(
        read_pairs(tmp_path / "um.jsonl", "ultramedical", "um").records,
        [item],
        [],
        DecontaminateConfig(),
    ).removed
    assert [(p.id, reason, hit) for p, reason, hit in removed] == [
        ("um:p2", "ngram_overlap", "medqa:7")
    ]

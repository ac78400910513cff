"""RewardBench's format and scoring: section weighting, unweighted fallback, ties, reader errors."""

import json

import pytest
from data_core.errors import SourceError
from evals.config import BootstrapParams
from rewards.benchmark import RewardPair
from rewards.rewardbench import (
    EXAMPLE_COUNTS,
    SUBSET_MAPPING,
    read_rewardbench,
    score_file,
    section_scores,
    write_rewardbench,
)

BOOT = BootstrapParams(resamples=200, seed=0)


def test_constants_are_rewardbench_weights():
    assert sorted(s for subsets in SUBSET_MAPPING.values() for s in subsets) == sorted(
        EXAMPLE_COUNTS
    )
    assert EXAMPLE_COUNTS["math-prm"] == 984 == 6 * EXAMPLE_COUNTS["hep-python"]  # up-weighted


def test_sections_are_count_weighted_and_overall_their_mean():
    acc = {"mt-bench-easy": 1.0, "alpacaeval-easy": 0.0, "math-prm": 0.5, "hep-python": 1.0}
    out = section_scores(acc)
    assert out["weighting"] == "rewardbench"
    chat = 28 / (28 + 100)  # unweighted it would be 0.5
    reasoning = (0.5 * 984 + 164) / (984 + 164)  # unweighted: 0.75
    assert out["sections"] == pytest.approx({"Chat": chat, "Reasoning": reasoning})
    assert out["overall"] == pytest.approx((chat + reasoning) / 2)
    assert "Chat Hard, Safety" in out["note"]  # sections without subsets are named, not zeroed


def test_foreign_subsets_get_the_unweighted_mean():
    out = section_scores({"easy": 1.0, "hard": 0.25, "math-prm": 0.0})
    assert out["weighting"] == "unweighted" and out["sections"] == {}
    assert out["overall"] == pytest.approx(1.25 / 3)
    assert "easy, hard" in out["note"]


class LengthRM:
    def rewards(self, prompts, responses):
        return [float(len(r)) for r in responses]


def test_score_file_counts_ties_wrong(tmp_path):
    rows = [
        {
            "prompt": "q1",
            "chosen": "longer",
            "rejected": "short",
            "subset": "mt-bench-easy",
            "id": 1,
        },
        {"prompt": "q2", "chosen": "same", "rejected": "size", "subset": "mt-bench-easy", "id": 2},
        {"prompt": "q3", "chosen": "a", "rejected": "bb", "subset": "alpacaeval-easy", "id": 3},
    ]
    path = tmp_path / "rb.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = score_file(LengthRM(), path, BOOT)
    easy = out["subsets"]["mt-bench-easy"]
    assert (easy["accuracy"], easy["ties"], easy["n"]) == (0.5, 1, 2)
    assert out["subsets"]["alpacaeval-easy"]["accuracy"] == 0.0
    assert out["sections"]["Chat"] == pytest.approx(0.5 * 28 / 128)
    assert out["pairs"] == 3 and out["overall"] == pytest.approx(0.5 * 28 / 128)


def test_write_then_read_round_trips(tmp_path):
    user = [{"role": "user", "content": "What causes fever?"}]
    multi = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Name one finding."},
    ]
    pairs = [
        RewardPair("a", "easy", user, "Infection.", "Cats."),
        RewardPair("b", "hard", multi, "x", "y"),
    ]
    path = tmp_path / "out.jsonl"
    assert write_rewardbench(path, pairs) == 2
    first = json.loads(path.read_text().splitlines()[0])
    assert first == {
        "prompt": "What causes fever?",
        "chosen": "Infection.",
        "rejected": "Cats.",
        "subset": "easy",
        "id": "a",
    }
    assert read_rewardbench(path) == pairs


def test_message_list_responses_and_json_lists(tmp_path):
    prompt = [{"role": "user", "content": "q"}]
    row = {
        "prompt": prompt,
        "chosen": [*prompt, {"role": "assistant", "content": "yes"}],
        "rejected": [{"role": "assistant", "content": "no"}],
        "subset": "s",
        "id": "x",
    }
    path = tmp_path / "rb.json"
    path.write_text(json.dumps([row]))
    assert read_rewardbench(path) == [RewardPair("x", "s", prompt, "yes", "no")]


GOOD = {"prompt": "q", "chosen": "a", "rejected": "b", "subset": "s", "id": "1"}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({k: v for k, v in GOOD.items() if k != "rejected"}, r":2: field 'rejected': missing"),
        (GOOD | {"chosen": 3}, r":2: field 'chosen': expected a string or a list of messages"),
        (GOOD | {"chosen": [{"role": "assistant"}]}, r":2: field 'chosen'\[0\]: expected"),
        (
            GOOD | {"chosen": [{"role": "user", "content": "q"}]},
            r":2: field 'chosen': the last message is not the assistant's",
        ),
        (
            GOOD
            | {
                "chosen": [
                    {"role": "user", "content": "other"},
                    {"role": "assistant", "content": "a"},
                ]
            },
            r":2: field 'chosen': the turns before the response are not the prompt",
        ),
        (GOOD | {"subset": ""}, r":2: field 'subset': expected a non-empty string"),
        (GOOD | {"id": None}, r":2: field 'id': missing"),
        (GOOD | {"prompt": " "}, r":2: field 'prompt': empty"),
        (GOOD | {"id": "0"}, r":2: field 'id': '0' repeats .*rb.jsonl:1"),
        ([1, 2], r":2: expected a JSON object, got list"),
    ],
)
def test_reader_errors_name_file_line_and_field(tmp_path, line, message):
    path = tmp_path / "rb.jsonl"
    path.write_text(json.dumps(GOOD | {"id": "0"}) + "\n" + json.dumps(line) + "\n")
    with pytest.raises(SourceError, match=r"rb\.jsonl" + message):
        read_rewardbench(path)


def test_reader_errors_on_bad_json_and_empty_files(tmp_path):
    path = tmp_path / "rb.jsonl"
    path.write_text(json.dumps(GOOD) + "\n\n{oops\n")
    with pytest.raises(SourceError, match=r"rb\.jsonl:3: not valid JSON"):
        read_rewardbench(path)
    path.write_text("\n")
    with pytest.raises(SourceError, match=r"rb\.jsonl: no pairs"):
        read_rewardbench(path)
    with pytest.raises(SourceError, match=r"missing\.jsonl: cannot read"):
        read_rewardbench(tmp_path / "missing.jsonl")
    listed = tmp_path / "rb.json"
    listed.write_text(json.dumps([GOOD, GOOD | {"id": "2", "subset": 5}]))
    with pytest.raises(SourceError, match=r"rb\.json: item 1: field 'subset'"):
        read_rewardbench(listed)

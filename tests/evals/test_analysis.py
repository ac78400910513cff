"""The held-out diagnosis: accuracy split by what the base read and by SFT-answer distractors."""

import polars as pl
from data_core.schemas import EvalItem, Instruction, Message
from evals.analysis import diagnose, item_evidence, training_answers
from evals.recipe import diagnosis_markdown, recipe_markdown, recipe_rows


def _item(i: int, gold: str, others: list[str]) -> EvalItem:
    ids = dict(zip("ABCD", [gold, *others], strict=True))
    return EvalItem(
        id=f"t:{i}",
        task="t",
        question=f"q{i}",
        answer="A",
        options={k: f"name of {v}" for k, v in ids.items()},
        meta={"subject": gold, "option_ids": ids},
    )


def _sft(answer_id: str) -> Instruction:
    return Instruction(
        id=f"s:{answer_id}",
        source="s",
        type="mc",
        answer="B",
        messages=[Message(role="user", content="q"), Message(role="assistant", content="B")],
        options={"A": "x", "B": "y"},
        meta={"option_ids": {"A": "other", "B": answer_id}},
    )


def test_training_answers_are_the_answer_options_of_mc_records() -> None:
    open_record = Instruction(
        id="o:1",
        source="s",
        type="open",
        messages=[Message(role="user", content="q"), Message(role="assistant", content="a")],
    )
    assert training_answers([_sft("D1"), _sft("D2"), open_record]) == {"D1", "D2"}


def test_accuracy_splits_by_gold_read_and_answer_distractors() -> None:
    items = [
        _item(0, "H0", ["X1", "X2", "X3"]),  # read, no distractor an SFT answer
        _item(1, "H1", ["S1", "X2", "X3"]),  # read, one distractor an SFT answer
        _item(2, "U2", ["S1", "S2", "X3"]),  # unread, two
        _item(3, "U3", ["S1", "S2", "X3"]),  # unread, two
    ]
    read, answers = {"H0", "H1"}, {"S1", "S2"}
    evidence = item_evidence(items, read, answers)
    assert [e["answer_distractors"] for e in evidence.values()] == [0, 1, 2, 2]
    assert evidence["t:2"]["answer_letters"] == ["B", "C"]
    # right on both read items; on the unread ones it picks an SFT answer (B), wrong
    preds = pl.DataFrame(
        {
            "id": [f"t:{i}" for i in range(4)],
            "prediction": ["A", "A", "B", "B"],
            "correct": [True, True, False, False],
        }
    )
    out = diagnose({"t": {"sft": preds}}, {"t": items}, {"t": read}, answers)["t"]
    assert out["items"] == 4 and out["gold_read"] == 2
    sft = out["models"]["sft"]
    assert sft["by_gold_read"]["read"] == {"n": 2, "acc": 1.0, "chose_training_answer": 0.0}
    assert sft["by_gold_read"]["unread"] == {"n": 2, "acc": 0.0, "chose_training_answer": 1.0}
    assert sft["by_answer_distractors"]["2"]["acc"] == 0.0
    assert sft["all"]["chose_training_answer"] == 0.5
    table = "\n".join(diagnosis_markdown({"t": out}))
    assert "| t | sft | 100.0 (2) | 0.0 (2) | 100.0 (1) | 100.0 (1) | 0.0 (2) | 50.0 |" in table


def test_recipe_rows_follow_the_configured_keys_with_their_comparisons() -> None:
    cell = lambda a: {"acc": a, "acc_low": a - 0.1, "acc_high": a + 0.1, "n": 10}  # noqa: E731
    ev = {
        "tasks": {"k": {"task": "k", "items": 10}, "k_cloze": {"task": "k", "items": 10}},
        "models": {
            "base": {"k": cell(0.3), "k_cloze": cell(0.3)},
            "sft": {"k": cell(0.6), "k_cloze": cell(0.4)},
        },
        "comparisons": {
            "sft_vs_base": {
                "k": {"diff": 0.3, "low": 0.1, "high": 0.5, "mcnemar_p": 0.01, "p_value": 0.01}
            }
        },
    }
    rows = recipe_rows(ev, ["k_cloze", "k", "missing"], ["base", "sft"])
    assert [r["key"] for r in rows] == ["k_cloze", "k"]
    assert rows[0]["format"] == "option texts, every model as cloze" and not rows[0]["comparisons"]
    assert rows[1]["comparisons"]["sft_vs_base"]["mcnemar_p"] == 0.01
    lines = recipe_markdown(rows, ["base", "sft"], None)
    assert lines[0] == "## Does the recipe work?"
    assert (
        "| k | natural: base cloze; chat models in their template, answer opened as taught "
        "| 10 | 30.0 [20.0, 40.0] | 60.0 [50.0, 70.0] | +30.0 (p=0.01) |" in lines
    )

"""Pair construction, category rules, SFT selection and split consistency."""

from data_core.schemas import Completion, Instruction, Judgement, Message
from synth.build import build_sets, category, make_pairs
from synth.config import BuildConfig

CFG = BuildConfig(min_margin=1.0, hard_margin=4.0, length_ratio=1.5, max_pairs_per_prompt=2)


def _rec(rid: str, parent: str | None = None) -> Instruction:
    meta = {"kind": "diagnosis"} | ({"parent": parent} if parent else {})
    return Instruction(
        id=rid,
        source="synth-kb",
        type="mc",
        options={"A": "x", "B": "y"},
        answer="A",
        messages=[
            Message(role="user", content=f"Q {rid}? A. x B. y"),
            Message(role="assistant", content="The answer is A. ref"),
        ],
        meta=meta,
    )


def _pair(model: str, score: float, verified: bool | None, text: str, pid: str = "k:1"):
    return (
        Judgement(prompt_id=pid, model=model, sample=0, score=score, judge="kb", verified=verified),
        Completion(prompt_id=pid, model=model, sample=0, text=text),
    )


def test_category_rules():
    long, short = "The answer is A. " + "detail " * 30, "The answer is A."
    j = lambda s, v: _pair("m", s, v, "")[0]  # noqa: E731
    assert category(j(10, True), j(8, True), long, short, CFG) == "length"
    assert category(j(9, True), j(7, True), short, short, CFG) == "hard"  # close, same length
    assert category(j(9, True), j(6, False), long, short, CFG) == "hard"  # a near miss
    assert category(j(9, True), j(2, False), short, short, CFG) == "easy"
    assert category(j(9, True), j(2, False), long, short, CFG) == "easy"  # correctness differs


def test_pairs_choose_best_and_reject_weakest_then_closest():
    judged = [
        _pair("kb", 9.0, True, "The answer is A. good"),
        _pair("n1", 8.5, True, "The answer is A. ok"),  # within min_margin: never rejected
        _pair("n2", 6.0, False, "The answer is B. near miss"),
        _pair("n3", 1.0, False, "The answer is B."),
    ]
    pairs = make_pairs(_rec("k:1"), judged, CFG)
    assert [(p.chosen_model, p.rejected_model) for p in pairs] == [("kb", "n3"), ("kb", "n2")]
    assert [p.margin for p in pairs] == [8.0, 3.0]
    assert [p.category for p in pairs] == ["easy", "hard"]
    assert pairs[0].chosen[-1].content == "The answer is A. good"
    assert pairs[0].prompt == pairs[0].chosen[:-1] == pairs[0].rejected[:-1]


def test_no_pairs_without_a_correct_answer_or_margin():
    wrong = [_pair("a", 4.0, False, "B"), _pair("b", 1.0, False, "B")]
    assert make_pairs(_rec("k:1"), wrong, CFG) == []
    close = [_pair("a", 9.0, True, "A"), _pair("b", 8.5, True, "A")]
    assert make_pairs(_rec("k:1"), close, CFG) == []


def test_verified_beats_a_higher_unverified_score():
    judged = [_pair("a", 9.5, False, "The answer is B."), _pair("b", 7.0, True, "The answer is A.")]
    pairs = make_pairs(_rec("k:1"), judged, CFG)
    assert pairs[0].chosen_model == "b" and pairs[0].rejected_model == "a"


def test_build_sets_sft_selection_manual_mix_and_parent_splits():
    records = [_rec(f"k:{i}") for i in range(40)] + [
        _rec(f"k:{i}~more", f"k:{i}") for i in range(40)
    ]
    judgements, completions = [], []
    for r in records:
        for model, score, ok in (("kb", 9.0, True), ("noisy", 2.0, False)):
            j, c = _pair(model, score, ok, f"The answer is {'A' if ok else 'B'}. {model}", r.id)
            judgements.append(j)
            completions.append(c)
    manual = [
        Instruction(
            id="m:1",
            source="manual",
            type="open",
            split="test",
            messages=[Message(role="user", content="q"), Message(role="assistant", content="a")],
        )
    ]
    sft, prefs, metrics = build_sets(
        records, completions, judgements, manual, BuildConfig(test_fraction=0.3)
    )
    assert metrics["sft"] == 81 and metrics["sft_manual"] == 1
    assert all(r.messages[-1].content.endswith("kb") for r in sft if r.source == "synth-kb")
    split = {r.id: r.split for r in sft}
    assert {split[f"k:{i}"] == split[f"k:{i}~more"] for i in range(40)} == {True}
    assert {"train", "test"} <= set(split.values()) and split["m:1"] == "test"
    assert len(prefs) == 80 and {p.split for p in prefs} == {"train", "test"}

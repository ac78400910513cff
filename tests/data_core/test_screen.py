"""data_core.screen: any stage's records split into kept and removed, with counts that reconcile
and a removal table that keeps every record whole."""

from data_core.config import DecontaminateConfig
from data_core.schemas import Completion, EvalItem
from data_core.screen import RULE_REASONS, Screen, read_removals, write_removals

QUESTION = (
    "A 34-year-old woman presents with fatigue, weight gain, cold intolerance and constipation "
    "for three months; her TSH is markedly elevated. Which of the following is the most likely "
    "diagnosis in this patient?"
)
ITEM = EvalItem(
    id="medqa:7",
    task="medqa",
    question=QUESTION,
    options={"A": "Hashimoto thyroiditis", "B": "Graves disease", "C": "Addison disease"},
    answer="A",
)


def _completion(sample: int, text: str) -> Completion:
    return Completion(prompt_id="synth-kb:1", model="kb", sample=sample, text=text)


def test_split_keeps_order_counts_reconcile_and_rows_keep_the_record(tmp_path):
    screen = Screen([ITEM], DecontaminateConfig(), "build")
    records = [
        _completion(0, "The answer is A. Hypothyroidism from autoimmune thyroiditis."),
        _completion(1, "Seen before: " + ITEM.full_text),
        _completion(2, "The answer is B."),
    ]
    kept, removed = screen.split(records, lambda c: c.text, "completion")
    assert [c.sample for c in kept] == [0, 2]
    assert [(r.stage, r.kind, r.matched_id, r.matched_task) for r in removed] == [
        ("build", "completion", "medqa:7", "medqa")
    ]
    assert removed[0].reason in RULE_REASONS.values()
    assert Completion.model_validate_json(removed[0].record) == records[1]
    _, more = screen.split([_completion(3, "Clean text.")], lambda c: c.text, "completion")
    counts = screen.counts(removed + more)
    assert counts == {"completion": {"screened": 4, "removed": {removed[0].reason: 1}, "kept": 3}}
    write_removals(tmp_path / "removed.parquet", removed)
    assert read_removals(tmp_path / "removed.parquet") == removed


def test_no_benchmark_items_keeps_everything():
    screen = Screen([], DecontaminateConfig(), "online_dpo")
    kept, removed = screen.split([_completion(0, ITEM.full_text)], lambda c: c.text, "completion")
    assert len(kept) == 1 and removed == []
    assert screen.counts(removed) == {"completion": {"screened": 1, "removed": {}, "kept": 1}}

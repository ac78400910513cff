"""Tokenizer: byte-level round trip, Llama-3 special tokens, exact chat format, save/load."""

from __future__ import annotations

import re

import polars as pl
from trainers.config import SPECIAL_TOKENS, KnowledgeConfig, TokenizerConfig
from trainers.knowledge import disease_sentences, knowledge_documents, select_diseases
from trainers.tokenizer import build_tokenizer
from transformers import AutoTokenizer

CHAT = [
    {"role": "system", "content": "You are a careful clinician."},
    {"role": "user", "content": "Which gene is linked to Marfan syndrome?"},
    {"role": "assistant", "content": "FBN1."},
]


def test_round_trip_of_unseen_text(tokenizer) -> None:
    text = "Ehlers–Danlos: hypermobility (ß-test) — 37.5 °C, naïve 𝛼-helix\n\tend"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text  # byte-level BPE: no unknown tokens, ever
    assert tokenizer.unk_token_id is None or tokenizer.unk_token_id not in ids


def test_special_tokens_are_single_ids(tokenizer) -> None:
    for token in SPECIAL_TOKENS.values():
        ids = tokenizer(token, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1, token
        assert tokenizer.decode(ids) == token
    assert tokenizer.bos_token == "<|begin_of_text|>"
    assert tokenizer.eos_token == "<|end_of_text|>"
    assert tokenizer.pad_token == "<|finetune_right_pad_id|>"


def test_chat_template_is_llama3_format(tokenizer) -> None:
    expected = (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
        "You are a careful clinician.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\n"
        "Which gene is linked to Marfan syndrome?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nFBN1.<|eot_id|>"
    )
    assert tokenizer.apply_chat_template(CHAT, tokenize=False) == expected
    prompt = tokenizer.apply_chat_template(CHAT[:2], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
    ids = tokenizer.apply_chat_template(CHAT, tokenize=True, return_dict=True)["input_ids"]
    assert tokenizer.decode(ids) == expected


def test_saved_dir_loads_with_auto_tokenizer(tmp_path) -> None:
    texts = ["Marfan syndrome is characterized by arachnodactyly and ectopia lentis."] * 20
    cfg = TokenizerConfig(vocab_size=300, min_frequency=1)
    stats = build_tokenizer(iter(texts), cfg, None, tmp_path / "tok")
    loaded = AutoTokenizer.from_pretrained(tmp_path / "tok")
    assert stats["mode"] == "trained" and stats["vocab_size"] == len(loaded)
    assert loaded.apply_chat_template(CHAT, tokenize=False).startswith("<|begin_of_text|>")
    text = "ectopia lentis"
    assert loaded.decode(loaded(text, add_special_tokens=False)["input_ids"]) == text


def test_full_scale_copies_the_model_tokenizer(tmp_path, tokenizer) -> None:
    tokenizer.save_pretrained(tmp_path / "real")
    stats = build_tokenizer(iter([]), TokenizerConfig(), str(tmp_path / "real"), tmp_path / "tok")
    assert stats["mode"] == "copied"
    copied = AutoTokenizer.from_pretrained(tmp_path / "tok")
    assert copied.get_vocab() == tokenizer.get_vocab()


def test_knowledge_sentences_are_deterministic() -> None:
    def phen(name: str, freq: float | None) -> dict:
        return {"hpo_id": "HP:1", "name": name, "aspect": "P", "frequency": freq, "onset": None}

    rows = [
        {
            "id": f"OMIM:{i}",
            "name": f"Disease {i}",
            "genes": ["ABC1"],
            "phenotypes": [
                phen("Seizure", 0.9),
                phen("Ataxia", None),
                phen("Fever", 0.0),
                phen("Tremor", 0.5),
                phen("Rash", None),
            ],
        }
        for i in range(4)
    ]
    frame = pl.DataFrame(rows)
    cfg = KnowledgeConfig(min_phenotypes=3, max_diseases=3, variants=2)
    chosen = select_diseases(frame, cfg)
    first, second = list(knowledge_documents(chosen, cfg)), list(knowledge_documents(chosen, cfg))
    assert first == second and len(first) == 6
    sentences = disease_sentences(rows[0], 0, cfg)
    assert "Disease 0 is characterized by" in sentences[0]
    assert "In Disease 0, seizure is seen very frequently." in sentences
    assert "Disease 0 is not associated with fever." in sentences
    assert "Disease 0 is caused by variants in ABC1." in sentences


def test_pretrain_corpus_reads_every_domain_disease_of_every_part(tmp_path) -> None:
    from data_core.knowledge import KnowledgeDomainConfig, domain_parts
    from trainers.config import PhrasingConfig
    from trainers.knowledge import pretrain_corpus

    phen = [
        {
            "hpo_id": f"HP:{k}",
            "name": f"Finding {k}",
            "aspect": "P",
            "frequency": None,
            "onset": None,
        }
        for k in range(5)
    ]
    frame = pl.DataFrame(
        [
            {"id": f"OMIM:{i}", "name": f"Dis{i}x", "genes": [], "phenotypes": phen}
            for i in range(300)
        ]
    )
    frame.write_parquet(tmp_path / "diseases.parquet")
    domain = KnowledgeDomainConfig(size=120, heldout_fraction=0.3, dev_fraction=0.2, salt="s")
    phrasing = PhrasingConfig(variants=4, phrasings=["characterized", "suggest"])
    train, _ = pretrain_corpus(tmp_path / "diseases.parquet", None, domain, phrasing, None, 0.0)
    parts = domain_parts(frame, domain)
    read = {f"OMIM:{name[3:-1]}" for doc in train for name in re.findall(r"Dis\d+x", doc)}
    assert read == set(parts) and len(read) == 120
    assert {"train", "dev", "heldout"} == set(parts.values())
    assert len(train) == 120 * 4
    suggest = [doc for doc in train if doc.startswith("A patient with finding")]
    assert len(suggest) == 120 * 2  # variants 1 and 3: five findings -> sentences of 4 and 1
    assert all(doc.count("may have Dis") == 2 for doc in suggest)

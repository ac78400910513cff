"""Tokenizer: byte-level round trip, Llama-3 special tokens, exact Llama-3 chat format, save/load."""

from __future__ import annotations

import polars as pl
from trainers.config import SPECIAL_TOKENS, KnowledgeConfig, TokenizerConfig
from trainers.knowledge import disease_sentences, knowledge_documents
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
    phen = lambda name, freq: {"hpo_id": "HP:1", "name": name, "aspect": "P",  # noqa: E731
                               "frequency": freq, "onset": None}  # fmt: skip
    rows = [{"id": f"OMIM:{i}", "name": f"Disease {i}", "genes": ["ABC1"],
             "phenotypes": [phen("Seizure", 0.9), phen("Ataxia", None), phen("Fever", 0.0),
                            phen("Tremor", 0.5), phen("Rash", None)]} for i in range(4)]  # fmt: skip
    frame = pl.DataFrame(rows)
    cfg = KnowledgeConfig(min_phenotypes=3, max_diseases=3, variants=2)
    first, second = list(knowledge_documents(frame, cfg)), list(knowledge_documents(frame, cfg))
    assert first == second and len(first) == 6
    sentences = disease_sentences(rows[0], 0, cfg)
    assert "Disease 0 is characterized by" in sentences[0]
    assert "In Disease 0, seizure is seen very frequently." in sentences
    assert "Disease 0 is not associated with fever." in sentences
    assert "Disease 0 is caused by variants in ABC1." in sentences


def test_knowledge_can_follow_the_heldout_split() -> None:
    from data_core.splits import split_of
    from trainers.config import DiseaseSplit

    phen = {"hpo_id": "HP:1", "name": "Seizure", "aspect": "P", "frequency": None, "onset": None}
    frame = pl.DataFrame([{"id": f"OMIM:{i}", "name": f"D{i}", "genes": [], "phenotypes": [phen]}
                          for i in range(300)])  # fmt: skip
    cfg = KnowledgeConfig(min_phenotypes=1, max_diseases=None,
                          split=DiseaseSplit(part="heldout", fraction=0.1, salt="s"))  # fmt: skip
    from trainers.knowledge import select_diseases

    ids = select_diseases(frame, cfg)["id"].to_list()
    assert ids and all(split_of(i, 0.1, "s") == "test" for i in ids)
    assert len(ids) == sum(split_of(f"OMIM:{i}", 0.1, "s") == "test" for i in range(300))

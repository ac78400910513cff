"""Small, deterministic fixtures for tests and benchmarks: a toy HPO and a tiny random Llama."""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl
from data_core.knowledge import KnowledgeDomainConfig

WORDS = [
    "abnormal", "increased", "decreased", "morphology", "muscle", "bone", "skin", "eye", "heart",
    "kidney", "liver", "brain", "size", "tone", "function", "structure", "growth", "cell", "blood",
    "nerve", "joint", "shape",
]  # fmt: skip


# The toy knowledge domain: every toy disease, 20% held out, 10% dev.
TOY_DOMAIN = KnowledgeDomainConfig(
    size=None, min_phenotypes=3, heldout_fraction=0.2, dev_fraction=0.1, salt="toy"
)


def write_toy_hpo(folder: Path, n_diseases: int = 120, seed: int = 0) -> tuple[Path, Path]:
    """hpo_terms/hpo_diseases parquet files in the ingest layout: 6 systems x 12 terms, diseases."""
    rng = random.Random(seed)
    terms = [{"id": "HP:0000001", "name": "All", "definition": None, "synonyms": [],
              "parents": [], "comment": None}]  # fmt: skip
    leaves = []
    for s in range(6):
        sid = f"HP:00001{s:02d}"
        terms.append({"id": sid, "name": f"Abnormality of system {s}", "synonyms": [],
                      "definition": f"An abnormality of organ system {s}.",
                      "parents": ["HP:0000001"], "comment": None})  # fmt: skip
        for t in range(12):
            tid = f"HP:0002{s:01d}{t:02d}"
            words = rng.sample(WORDS, 4)
            terms.append({"id": tid, "name": f"{words[0].title()} {words[1]} {s}-{t}",
                          "definition": f"{' '.join(words).capitalize()} of system {s} type {t}.",
                          "synonyms": [], "parents": [sid], "comment": None})  # fmt: skip
            leaves.append(tid)
    names = {t["id"]: t["name"] for t in terms}
    diseases = []
    for d in range(n_diseases):
        chosen = rng.sample(leaves, rng.randint(6, 10))
        phenos = [
            {
                "hpo_id": h,
                "name": names[h],
                "aspect": "P",
                "frequency": rng.choice([None, 0.2, 0.5, 0.9]),
                "onset": None,
            }
            for h in chosen
        ]
        phenos.append({"hpo_id": "HP:0003577", "name": "Congenital onset", "aspect": "C",
                       "frequency": None, "onset": None})  # fmt: skip
        diseases.append({"id": f"OMIM:{100000 + d}", "name": f"Toy syndrome {d}",
                         "phenotypes": phenos, "genes": []})  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    terms_path, diseases_path = folder / "hpo_terms.parquet", folder / "hpo_diseases.parquet"
    pl.DataFrame(terms).write_parquet(terms_path)
    pl.DataFrame(diseases).write_parquet(diseases_path)
    return diseases_path, terms_path


CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)


def make_tiny_llama(folder: Path, hidden: int = 64, layers: int = 2, seed: int = 0) -> Path:
    """A randomly initialised LlamaForCausalLM with a word-level tokenizer and chat template."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<|pad|>", "<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>",
                "<|end_header_id|>", "<unk>"]  # fmt: skip
    vocab = {tok: i for i, tok in enumerate(specials)}
    for word in [*WORDS, "user", "assistant", "system", "the", "a", "of", "is", "answer", *"ABCDE",
                 *(str(i) for i in range(100)), *".,:;?!'\"()-/"]:  # fmt: skip
        vocab.setdefault(word, len(vocab))
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])  # fmt: skip
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<|begin_of_text|>",
                                        eos_token="<|eot_id|>", pad_token="<|pad|>",
                                        unk_token="<unk>")  # fmt: skip
    tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=hidden, intermediate_size=hidden * 2,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=512, rope_theta=500000.0,
                         bos_token_id=vocab["<|begin_of_text|>"], eos_token_id=vocab["<|eot_id|>"],
                         pad_token_id=vocab["<|pad|>"])  # fmt: skip
    model = LlamaForCausalLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder

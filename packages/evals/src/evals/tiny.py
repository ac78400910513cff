"""A tiny random Llama-3-architecture model + byte-level BPE tokenizer, for tests and benchmarks."""

from __future__ import annotations

import random
from collections.abc import Iterable
from pathlib import Path

from data_core.schemas import EvalItem

LLAMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    " + message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
SPECIAL = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
           "<|eot_id|>", "<|pad|>"]  # fmt: skip


def make_tiny_model(
    out_dir: str | Path,
    texts: Iterable[str],
    *,
    vocab_size: int = 2048,
    hidden_size: int = 128,
    layers: int = 4,
    heads: int = 4,
    kv_heads: int = 2,
    max_positions: int = 2048,
    seed: int = 0,
    chat_template: bool = True,
) -> Path:
    """Train a byte-level BPE on `texts`, build a random LlamaForCausalLM, save both to `out_dir`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # fmt: skip
    tok.train_from_iterator(list(texts), trainer=trainer)
    bos = tok.token_to_id("<|begin_of_text|>")
    # Llama-3 tokenizers prepend BOS by default; lm-eval and our scorer both keep that default.
    tok.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", bos)]
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|begin_of_text|>",
                                   eos_token="<|eot_id|>", pad_token="<|pad|>")  # fmt: skip
    if chat_template:
        fast.chat_template = LLAMA3_CHAT_TEMPLATE
    fast.save_pretrained(out)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=hidden_size, intermediate_size=hidden_size * 3,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
        max_position_embeddings=max_positions, rope_theta=500000.0, tie_word_embeddings=True,
        bos_token_id=bos, eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id,
    )  # fmt: skip
    model = LlamaForCausalLM(config)
    model.save_pretrained(out)
    return out


WORDS = ["fever", "cough", "rash", "seizure", "anemia", "ataxia", "hypotonia", "microcephaly", "scoliosis", "cataract", "deafness", "nephritis", "obesity", "myopathy", "neuropathy", "dystonia"]  # fmt: skip


def make_items(
    task: str, n: int, seed: int = 0, n_options: int = 4, subjects: list[str] | None = None
) -> list[EvalItem]:
    """Realistic-looking multiple-choice items with random but valid gold letters."""
    rng = random.Random(seed)
    letters = "ABCDE"[:n_options]
    items = []
    for i in range(n):
        q = f"A patient presents with {' and '.join(rng.sample(WORDS, 3))}. What is the most likely diagnosis?"
        options = {k: " ".join(rng.sample(WORDS, rng.randint(1, 3))) for k in letters}
        meta = {"subject": subjects[i % len(subjects)]} if subjects else {}
        items.append(EvalItem(id=f"{task}:{i}", task=task, question=q, options=options,
                              answer=rng.choice(letters), meta=meta))  # fmt: skip
    return items

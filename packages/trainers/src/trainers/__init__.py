"""Tokenizer, tiny Llama-3 base, SFT and preference training (filled by the trainers issue)."""

"""The instruction format of multiple-choice questions, shared by the data engine and the evals.

Training instructions are written in it (synth), and a chat model is asked in it (evals), so a
fine-tuned model is evaluated on the prompt it was trained on.
"""

from __future__ import annotations

MC_SUFFIX = "Answer with the letter of the correct option, then explain briefly."


def format_mc(question: str, options: dict[str, str]) -> str:
    """A multiple-choice instruction: the question, one `A. text` line per option, the ask."""
    lines = [question, *(f"{k}. {v}" for k, v in options.items()), MC_SUFFIX]
    return "\n".join(lines)

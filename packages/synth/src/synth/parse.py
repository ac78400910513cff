"""Robust reading of scores and answers from free-form model output."""

from __future__ import annotations

import re

NUM = r"(\d+(?:\.\d+)?)"
# Ordered from the most to the least explicit shape.
_PATTERNS = [
    re.compile(r"\[\[\s*" + NUM + r"\s*\]\]"),  # [[8]] (MT-Bench)
    re.compile(NUM + r"\s*/\s*10\b"),  # 8/10, 7.5 / 10
    re.compile(NUM + r"\s+out\s+of\s+10\b", re.I),  # 7 out of 10
    re.compile(r"(?:score|rating|grade|overall)\s*(?:is|of|=|:)?\s*\**\s*" + NUM, re.I),
    re.compile(r"\*\*\s*" + NUM + r"\s*\*\*"),  # **9**
    re.compile(r"^\s*" + NUM + r"\s*$", re.M),  # a bare number on its own line
]
_LETTER = [
    re.compile(r"answer\s*(?:is|:)\s*\(?\**\s*([A-H])\b", re.I),
    re.compile(r"^\s*\(?([A-H])[.):]\s", re.M),
    re.compile(r"\boption\s+\(?([A-H])\b", re.I),
]


def parse_score(text: str, low: float = 1.0, high: float = 10.0) -> tuple[float | None, str]:
    """(score, "") for the first score found in range; (None, reason) when there is none."""
    if not text or not text.strip():
        return None, "empty output"
    out_of_range = None
    for pattern in _PATTERNS:
        for match in pattern.finditer(text):
            value = float(match.group(1))
            if low <= value <= high:
                return value, ""
            out_of_range = value
    if out_of_range is not None:
        return None, f"score {out_of_range:g} outside [{low:g}, {high:g}]"
    return None, "no score found"


def parse_labeled(text: str, label: str) -> tuple[float | None, str]:
    """The score written after `label` (e.g. "Difficulty: 7/10"), parsed like `parse_score`."""
    match = re.search(rf"{label}\s*[:=-]?\s*(.{{0,40}})", text or "", flags=re.I)
    if not match:
        return None, f"no {label} found"
    return parse_score(match.group(1).split("\n")[0])


def extract_letter(
    text: str, letters: str = "ABCDEFGH", options: dict[str, str] | None = None
) -> str | None:
    """The option letter a completion commits to, or None.

    With `options`, a reply that names no letter commits to the one option whose text it contains.
    """
    for pattern in _LETTER:
        match = pattern.search(text or "")
        if match and match.group(1).upper() in letters:
            return match.group(1).upper()
    if options:
        words = f" {_words(text)} "
        named = [k for k, v in options.items() if _words(v) and f" {_words(v)} " in words]
        if len(named) > 1:  # one option's text may contain another's: the longest names both
            longest = max(named, key=lambda k: len(options[k]))
            named = (
                [longest]
                if all(_words(options[k]) in _words(options[longest]) for k in named)
                else named
            )
        return named[0] if len(named) == 1 else None
    return None


def _words(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", (text or "").lower()).strip()

"""Answer extraction from free text, with an explicit "unparsed" outcome.

Rules, strongest first (the first rule that yields exactly one option wins):
1. explicit conclusions: "the answer is C", "Answer: c", "correct option is (C)", "**C**" at the
   end;
   the LAST such conclusion counts (chains of thought revise themselves);
2. a reply that starts with the option: "C", "(C)", "C.", "C) text", "C: text";
3. yes / no / maybe replies when those are option texts (PubMedQA);
4. the text of exactly one option appearing in the reply.
A reply that refuses, hedges between options ("A or B?") or names several is unparsed (None).
"""

from __future__ import annotations

import re

UNPARSED = "unparsed"

_L = r"\(?\[?([A-Za-z])\]?\)?"  # a letter, optionally in () or []
_CONCLUSION = re.compile(
    r"(?:answer|option|choice)\s*(?:is|would be|will be|should be|:|=|-)?\s*"
    r"(?:probably\s+|likely\s+|definitely\s+)?"
    r"(?:option\s+|choice\s+|letter\s+)?\**" + _L + r"\**(?=$|[\s.,;:)!*]|\.)",
    re.IGNORECASE,
)
_LEADING = re.compile(r"^\s*\**\s*" + _L + r"\s*\**\s*(?:$|[.):,\-]|\s+[-—:]?\s*\S)")
_NEGATED = re.compile(r"\bnot\s+(?:option\s+)?\(?([A-Z])\)?(?![A-Za-z])")
_HEDGE = re.compile(r"\b([A-Z])\)?\s*(?:,|or|and|/)\s*\(?([A-Z])\b\)?\s*\?")
_LIST = re.compile(r"^\s*\(?[A-Z]\)?(?:\s*(?:,|or|and|/|&)\s*\(?[A-Z]\)?)+\s*[.?!]?\s*$")
_YES_NO = re.compile(r"\b(yes|no|maybe)\b", re.IGNORECASE)


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def _valid(letter: str, options: dict[str, str]) -> str | None:
    up = letter.upper()
    return up if up in options else None


def extract_answer(text: str, options: dict[str, str]) -> str | None:
    """The option letter a free-text reply commits to, or None when it commits to none."""
    if not text or not text.strip():
        return None
    reply = text.strip()
    if _HEDGE.search(reply) or _LIST.match(reply):
        return None
    negated = {m.group(1) for m in _NEGATED.finditer(reply)}
    # 1. explicit conclusions; the last one counts
    found = []
    for m in _CONCLUSION.finditer(reply):
        # "the answer is a rash": a lowercase "a" followed by a word is the article
        if m.group(1) == "a" and _article(reply, m.end()):
            continue
        letter = _valid(m.group(1), options)
        if letter and letter not in negated:
            found.append(letter)
    if found:
        return found[-1]
    # 2. reply opens with a letter
    lead = _LEADING.match(reply)
    if (
        lead
        and (letter := _valid(lead.group(1), options))
        and not _article(reply, lead.end(1))
        and (lead.group(1).isupper() or len(reply) <= 3)
    ):
        return letter
    # 3. yes / no / maybe questions
    by_text = {_norm(v): k for k, v in options.items()}
    if set(by_text) <= {"yes", "no", "maybe"}:
        words = {m.group(1).lower() for m in _YES_NO.finditer(reply.split("\n")[0])}
        if len(words) == 1:
            return by_text.get(words.pop())
        return None
    # 4. exactly one option's text is quoted (longest texts first so "B12" does not hit "B")
    norm_reply = f" {_norm(reply)} "
    hits = [k for k, v in options.items() if _norm(v) and f" {_norm(v)} " in norm_reply]
    if len(hits) > 1:  # one option's text may contain another's; keep the longest if so
        longest = max(hits, key=lambda k: len(options[k]))
        if all(_norm(options[h]) in _norm(options[longest]) for h in hits):
            hits = [longest]
    if len(hits) == 1 and not _NEGATED.search(reply):
        return hits[0]
    # a bare standalone capital letter at the end ("... so my choice: D")
    tail = re.search(r"(?:^|\s)\(?([A-Z])\)?\.?\s*$", reply)
    if tail and (letter := _valid(tail.group(1), options)) and letter not in negated:
        return letter
    return None


def _article(text: str, end: int) -> bool:
    """True when a matched lowercase 'a' is followed by a word (the English article)."""
    rest = text[end:]
    return bool(re.match(r"\s+[a-z]{2,}", rest))

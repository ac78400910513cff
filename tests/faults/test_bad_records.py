"""Bad records: each is quarantined with its file, line, field and reason while the good records
around it are kept, and read == kept + quarantined (issue 19, "Bad input")."""

from __future__ import annotations

import json

import pytest
from data_core.readers import read_source
from data_core.readers.raw import MAX_RECORD_CHARS

from tests.faults.cases import GOOD, around, check, good, line

pytestmark = pytest.mark.bad_input  # each test is one malformed input (conftest)

MC_LINE = line({**GOOD["medqa"], "realidx": "r2"})


def _nested(depth: int) -> bytes:
    return b'{"question": ' + b"[" * depth + b"]" * depth + b"}"


# (case, reader format, file suffix, content, line, field, reason, kept)
CASES = [
    (
        "latin-1 byte",
        "medqa",
        ".jsonl",
        around(
            "medqa",
            json.dumps({**GOOD["medqa"], "question": "Caf\u00e9?"}, ensure_ascii=False).encode(
                "latin-1"
            ),
        ),
        2,
        None,
        "not valid UTF-8",
        2,
    ),
    (
        "lone surrogate",
        "medqa",
        ".jsonl",
        around("medqa", MC_LINE.replace(b"scurvy", b"\\ud800")),
        2,
        "question",
        "unicode",
        2,
    ),
    (
        "duplicate JSON key",
        "medqa",
        ".jsonl",
        around("medqa", MC_LINE[:-1] + b', "answer_idx": "B"}'),
        2,
        "answer_idx",
        "duplicate key",
        2,
    ),
    (
        "NaN",
        "chat",
        ".jsonl",
        around("chat", line(good("chat", 2))[:-1] + b', "difficulty": NaN}'),
        2,
        "difficulty",
        "NaN",
        2,
    ),
    (
        "Infinity",
        "chat",
        ".jsonl",
        around("chat", line(good("chat", 2))[:-1] + b', "difficulty": Infinity}'),
        2,
        "difficulty",
        "Infinity",
        2,
    ),
    (
        "-Infinity in an option",
        "medqa",
        ".jsonl",
        around("medqa", MC_LINE.replace(b'"D"', b"-Infinity")),
        2,
        "options.B",
        "-Infinity",
        2,
    ),
    ("deep nesting", "medqa", ".jsonl", around("medqa", _nested(50_000)), 2, None, "too deeply", 2),
    (
        "huge line",
        "medqa",
        ".jsonl",
        around("medqa", line({**GOOD["medqa"], "question": "x" * MAX_RECORD_CHARS})),
        2,
        None,
        "over the",
        2,
    ),
    (
        "CRLF line endings",
        "chat",
        ".jsonl",
        around("chat", b"{broken", b"\r\n"),
        2,
        None,
        "JSON",
        2,
    ),
    (
        "UTF-8 BOM then a bad line",
        "medqa",
        ".jsonl",
        b"\xef\xbb\xbf" + around("medqa", b'{"question": 5}'),
        2,
        "options",
        "missing",
        2,
    ),
    (
        "truncated last line",
        "chat",
        ".jsonl",
        line(good("chat", 1)) + b"\n" + line(good("chat", 2)) + b"\n" + line(good("chat", 3))[:25],
        3,
        None,
        "invalid JSON",
        2,
    ),
    (
        "medqa record in a chat file",
        "chat",
        ".jsonl",
        around("chat", MC_LINE),
        2,
        "messages",
        "missing",
        2,
    ),
    (
        "chat record in a medqa file",
        "medqa",
        ".jsonl",
        around("medqa", line(good("chat", 2))),
        2,
        "options",
        "missing",
        2,
    ),
    (
        "JSON array line",
        "chat",
        ".jsonl",
        around("chat", b"[" + line(good("chat", 2)) + b"]"),
        2,
        None,
        "expected a JSON object",
        2,
    ),
    (
        "duplicate realidx",
        "medqa",
        ".jsonl",
        around("medqa", line(good("medqa", 1))),
        2,
        "id",
        "first at line 1",
        2,
    ),
    (
        "pubmedqa answer not among options",
        "pubmedqa",
        ".jsonl",
        around("pubmedqa", line({**GOOD["pubmedqa"], "answer_idx": "C"})),
        2,
        "answer_idx",
        "not among",
        2,
    ),
    (
        "mmlu empty answer",
        "mmlu",
        ".jsonl",
        around("mmlu", line({**GOOD["mmlu"], "answer_idx": ""})),
        2,
        "answer_idx",
        "not among",
        2,
    ),
    (
        "medmcqa options dict without answer",
        "medmcqa",
        ".jsonl",
        around("medmcqa", line({"question": "q?", "options": {"A": "a", "B": "b"}})),
        2,
        "answer_idx",
        "missing",
        2,
    ),
    (
        "ultramedical empty conversation",
        "ultramedical",
        ".jsonl",
        around("ultramedical", line({**good("ultramedical", 2), "conversations": []})),
        2,
        "conversations",
        "no turns",
        2,
    ),
    (
        "ultramedical answer not among options",
        "ultramedical",
        ".jsonl",
        around("ultramedical", line({**good("ultramedical", 2), "answer": "E"})),
        2,
        "answer",
        "not among",
        2,
    ),
    (
        "ultramedical turn of wrong type",
        "ultramedical",
        ".jsonl",
        around("ultramedical", line({**good("ultramedical", 2), "conversations": ["hi"]})),
        2,
        "conversations[0]",
        "expected an object",
        2,
    ),
    (
        "chat with only a system turn",
        "chat",
        ".jsonl",
        around("chat", line({"id": "r2", "messages": [{"role": "system", "content": "be nice"}]})),
        2,
        "messages",
        "user turn",
        2,
    ),
    (
        "chat mc options without answer",
        "chat",
        ".jsonl",
        around("chat", line({**good("chat", 2), "type": "mc", "options": {"A": "x", "B": "y"}})),
        2,
        "answer",
        "not among",
        2,
    ),
    (
        "passage content of wrong type",
        "passages",
        ".jsonl",
        around("passages", line({"id": "r2", "content": 42})),
        2,
        "content",
        "expected str",
        2,
    ),
    (
        "passage without text",
        "passages",
        ".jsonl",
        around("passages", line({"id": "r2", "title": "only a title"})),
        2,
        "text",
        "missing",
        2,
    ),
]


@pytest.mark.parametrize(
    ("fmt", "suffix", "content", "line_no", "field", "reason", "kept"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_bad_record_is_quarantined(
    tmp_path, tally, fmt, suffix, content, line_no, field, reason, kept
):
    path = tmp_path / f"anatomy_test{suffix}"
    path.write_bytes(content)
    tally.add(records_lost=check(read_source(path, fmt, "src"), path, line_no, field, reason, kept))

"""Shared good records and file builders for the bad-input cases."""

from __future__ import annotations

import json
from typing import Any

MC = {"question": "Which vitamin deficiency causes scurvy?", "options": {"A": "C", "B": "D"}}
GOOD = {
    "medqa": {**MC, "answer_idx": "A"},
    "mmlu": {**MC, "answer_idx": "B", "subject": "anatomy"},
    "pubmedqa": {
        "question": "Does it help?",
        "options": {"A": "yes", "B": "no"},
        "answer_idx": "A",
    },
    "medmcqa": {"question": "q?", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": 2},
    "chat": {
        "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
    },
    "ultramedical": {
        "type": "Exam",
        "conversations": [
            {"from": "human", "value": "Which one?\nA. x\nB. y"},
            {"from": "gpt", "value": "A"},
        ],
        "answer": "A",
    },
    "passages": {"title": "T", "content": "Some textbook paragraph."},
    "pubmedqa_original": {"QUESTION": "Q?", "CONTEXTS": ["ctx"], "final_decision": "yes"},
    "ultramedical_pair": {
        "prompt": "hi",
        "chosen": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "good"}],
        "rejected": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "bad"}],
        "score_chosen": 9,
        "score_rejected": 2,
    },
    "rewardbench": {"prompt": "hi", "chosen": "good", "rejected": "bad", "subset": "s"},
}
ID_KEY = {
    "medqa": "realidx",
    "mmlu": "realidx",
    "pubmedqa": "realidx",
    "ultramedical_pair": "prompt_id",
}


def good(fmt: str, n: int) -> dict[str, Any]:
    """The format's good record with its own id (`n`)."""
    record = dict(GOOD[fmt])
    if fmt == "ultramedical":
        return {**record, "id": f"Origin,{n}"}
    return {**record, ID_KEY.get(fmt, "id"): f"r{n}"}


def line(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def around(fmt: str, bad: bytes, sep: bytes = b"\n") -> bytes:
    """A JSONL file: good record, `bad` (line 2), good record."""
    return line(good(fmt, 1)) + sep + bad + sep + line(good(fmt, 3)) + sep


def members(fmt: str, bad: bytes) -> bytes:
    """A JSON document keyed by PMID, one member a line: good (line 2), `bad` (3), good (4)."""
    return (
        b'{\n"1": ' + line(GOOD[fmt]) + b',\n"2": ' + bad + b',\n"3": ' + line(GOOD[fmt]) + b"\n}\n"
    )


def csv_rows(*rows: str) -> bytes:
    return "".join(rows).encode()


def check(result: Any, path: Any, line_no: int, field: str | None, reason: str, kept: int) -> int:
    """Exactly one entry, at this file, line and field, for this reason; `kept` good ones.
    Returns the records lost (read but neither kept nor quarantined): 0 when it returns."""
    lost = result.read - len(result.records) - len(result.quarantined)
    assert lost == 0  # counts reconcile
    assert len(result.records) == kept and len(result.quarantined) == 1, result.quarantined
    entry = result.quarantined[0]
    assert (entry.file, entry.line, entry.field) == (str(path), line_no, field), str(entry)
    assert reason in entry.reason, entry.reason
    assert entry.raw  # the original text is kept for the user to inspect
    return lost

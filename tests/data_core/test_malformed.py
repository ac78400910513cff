"""Malformed inputs are quarantined with file, line and field; counts reconcile; nothing crashes."""

import json

import pytest
from data_core.readers import read_source

GOOD_MC = {
    "question": "Which vitamin deficiency causes scurvy?",
    "options": {"A": "C", "B": "D"},
    "answer_idx": "A",
}
GOOD_CHAT = {
    "id": "1",
    "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
}


def _line(obj) -> bytes:
    return (
        (json.dumps(obj) if not isinstance(obj, (str, bytes)) else obj).encode()
        if not isinstance(obj, bytes)
        else obj
    )


CASES = [
    ("medqa", b'{"question": "truncated', None, "invalid JSON"),
    ("medqa", {**GOOD_MC, "options": ["C", "D"]}, "options", "expected dict"),
    ("medqa", {k: v for k, v in GOOD_MC.items() if k != "answer_idx"}, "answer_idx", "missing"),
    ("medqa", {**GOOD_MC, "answer_idx": "E"}, "answer_idx", "not among the options"),
    ("medqa", {**GOOD_MC, "question": 42}, "question", "expected str"),
    ("medqa", {**GOOD_MC, "question": "   "}, "question", "empty"),
    ("medqa", {**GOOD_MC, "options": {"A": "C"}}, "options", "at least 2 options"),
    ("medqa", {**GOOD_MC, "options": {"A": "C", "b": "D"}}, "options", "capital letter"),
    ("medqa", {**GOOD_MC, "options": {"A": "C", "B": 3}}, "options.B", "expected str"),
    ("medqa", b"\xff\xfe broken bytes", None, "UTF-8"),
    ("medqa", b"[1, 2, 3]", None, "expected a JSON object"),
    (
        "medmcqa",
        {"question": "q?", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": 7},
        "cop",
        "option index",
    ),
    ("medmcqa", {"question": "q?", "opa": "a", "opb": "b", "opc": "c", "cop": 1}, "opd", "missing"),
    (
        "medmcqa",
        {"question": "q?", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": "1"},
        "cop",
        "expected int",
    ),
    ("chat", {**GOOD_CHAT, "messages": []}, "messages", "no turns"),
    (
        "chat",
        {**GOOD_CHAT, "messages": [{"role": "robot", "content": "x"}]},
        "messages[0].role",
        "expected one of",
    ),
    (
        "chat",
        {**GOOD_CHAT, "messages": [{"role": "user", "content": ""}]},
        "messages[0].content",
        "non-empty",
    ),
    (
        "chat",
        {**GOOD_CHAT, "messages": [{"role": "assistant", "content": "only me"}]},
        "messages",
        "no user turn",
    ),
    (
        "chat",
        {**GOOD_CHAT, "type": "mc", "options": {"A": "x", "B": "y"}, "answer": "Z"},
        "answer",
        "not among",
    ),
    ("chat", {**GOOD_CHAT, "type": "yesno", "answer": "perhaps"}, "answer", "yes, no or maybe"),
    ("chat", {**GOOD_CHAT, "messages": "hello"}, "messages", "expected list"),
    ("chat", {**GOOD_CHAT, "difficulty": "hard"}, "difficulty", "expected int or float"),
]


@pytest.mark.parametrize(("fmt", "bad", "field", "reason"), CASES)
def test_bad_record_is_quarantined_with_location(tmp_path, fmt, bad, field, reason):
    good = (
        GOOD_MC
        if fmt == "medqa"
        else GOOD_CHAT
        if fmt == "chat"
        else {"question": "q?", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": 2, "id": "x"}
    )
    path = tmp_path / "data.jsonl"
    path.write_bytes(
        _line({**good, "id": "first"})
        + b"\n"
        + _line(bad)
        + b"\n"
        + _line({**good, "id": "third"})
        + b"\n"
    )
    result = read_source(path, fmt, "src")
    assert result.read == 3 == len(result.records) + len(result.quarantined)
    assert len(result.quarantined) == 1
    entry = result.quarantined[0]
    assert entry.file == str(path) and entry.line == 2 and entry.field == field
    assert reason in entry.reason
    assert entry.raw  # the original text is kept, never lost


def test_duplicate_ids_are_quarantined(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps(GOOD_CHAT) for _ in range(3)) + "\n")
    result = read_source(path, "chat", "s")
    assert len(result.records) == 1 and [q.line for q in result.quarantined] == [2, 3]
    assert "first at line 1" in result.quarantined[0].reason


def test_truncated_json_document_keeps_earlier_elements(tmp_path):
    path = tmp_path / "t.json"
    text = json.dumps([{"id": f"p{i}", "content": f"text {i}"} for i in range(3)], indent=1)
    path.write_text(text[:-20])
    result = read_source(path, "passages", "tb")
    assert len(result.records) == 2 and len(result.quarantined) == 1
    assert "JSON" in result.quarantined[0].reason and result.quarantined[0].line > 1


def test_bad_csv_quoting_and_column_count(tmp_path):
    path = tmp_path / "anatomy_test.csv"
    path.write_text(
        'What is the femur?,bone,muscle,nerve,vessel,A\n"bad "quote,x,y,z,w,B\n'
        "only,three,cols\nOk?,a,b,c,d,E\n"
    )
    result = read_source(path, "mmlu_csv", "mmlu")
    assert len(result.records) == 1 and result.records[0].meta == {"subject": "anatomy"}
    reasons = sorted(q.reason for q in result.quarantined)
    assert any("quoting" in r for r in reasons) and any("CSV columns" in r for r in reasons)
    assert any(q.field == "answer" for q in result.quarantined)
    assert result.read == 4


def test_missing_file_names_the_source(tmp_path):
    from data_core.errors import SourceError

    with pytest.raises(SourceError, match=r"no such file.*'mine'"):
        read_source(tmp_path / "nope.jsonl", "medqa", "mine")

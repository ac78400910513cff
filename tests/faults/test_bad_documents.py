"""Bad records in JSON documents, CSV and reward-pair files: each is quarantined with its file,
line, field and reason while the good records around it are kept (issue 19, "Bad input")."""

from __future__ import annotations

import pytest
from data_core.readers import read_source
from rewards.pairs import read_pairs

from tests.faults.cases import GOOD, around, check, csv_rows, good, line, members

pytestmark = pytest.mark.bad_input  # each test is one malformed input (conftest)

UM_PAIR, RB = "ultramedical_pair", "rewardbench"


def _pair(fmt: str, **changes: object) -> bytes:
    return line({**good(fmt, 2), **changes})


# (case, reader format, file suffix, content, line, field, reason, kept)
CASES = [
    (
        "pubmedqa CONTEXTS as text",
        "pubmedqa_original",
        ".json",
        members("pubmedqa_original", line({**GOOD["pubmedqa_original"], "CONTEXTS": "c"})),
        3,
        "CONTEXTS",
        "expected list",
        2,
    ),
    (
        "pubmedqa decision outside yes/no/maybe",
        "pubmedqa_original",
        ".json",
        members(
            "pubmedqa_original", line({**GOOD["pubmedqa_original"], "final_decision": "perhaps"})
        ),
        3,
        "final_decision",
        "expected one of",
        2,
    ),
    (
        "NaN inside a JSON document member",
        "pubmedqa_original",
        ".json",
        members("pubmedqa_original", line(GOOD["pubmedqa_original"])[:-1] + b', "YEAR": NaN}'),
        3,
        "YEAR",
        "NaN",
        2,
    ),
    (
        "duplicate key inside a JSON document member",
        "pubmedqa_original",
        ".json",
        members("pubmedqa_original", line(GOOD["pubmedqa_original"])[:-1] + b', "QUESTION": "x"}'),
        3,
        "QUESTION",
        "duplicate key",
        2,
    ),
    (
        "duplicate PMID",
        "pubmedqa_original",
        ".json",
        members("pubmedqa_original", line(GOOD["pubmedqa_original"])).replace(b'"2":', b'"1":'),
        3,
        "id",
        "first at line 2",
        2,
    ),
    (
        "CSV embedded newline, then a bad answer",
        "mmlu_csv",
        ".csv",
        csv_rows('"Which\nbone?",a,b,c,d,A\n', "Q2?,a,b,c,d,Z\n", "Q3?,a,b,c,d,B\n"),
        3,
        "answer",
        "A-D",
        2,
    ),
    (
        "CSV huge field",
        "mmlu_csv",
        ".csv",
        csv_rows("Q1?,a,b,c,d,A\n", "Q2?," + "x" * 200_000 + ",b,c,d,A\n", "Q3?,a,b,c,d,B\n"),
        2,
        None,
        "field too long",
        2,
    ),
    (
        "CSV truncated inside a quote",
        "mmlu_csv",
        ".csv",
        csv_rows("Q1?,a,b,c,d,A\n", "Q2?,a,b,c,d,B\n", '"Q3 cut off,a,b'),
        3,
        None,
        "quoting",
        2,
    ),
    (
        "CSV CRLF with an empty option",
        "mmlu_csv",
        ".csv",
        csv_rows("Q1?,a,b,c,d,A\r\n", "Q2?,a,,c,d,B\r\n", "Q3?,a,b,c,d,B\r\n"),
        2,
        "options.B",
        "empty",
        2,
    ),
]
PAIR_CASES = [
    (
        "pair NaN score",
        UM_PAIR,
        around(UM_PAIR, _pair(UM_PAIR)[:-1] + b', "score_chosen": NaN}'),
        2,
        "score_chosen",
        "NaN",
        2,
    ),
    (
        "pair empty chosen",
        UM_PAIR,
        around(UM_PAIR, _pair(UM_PAIR, chosen=[])),
        2,
        "chosen",
        "no turns",
        2,
    ),
    (
        "pair score of wrong type",
        UM_PAIR,
        around(UM_PAIR, _pair(UM_PAIR, score_rejected="low")),
        2,
        "score_rejected",
        "expected int or float",
        2,
    ),
    (
        "pair scores inverted",
        UM_PAIR,
        around(UM_PAIR, _pair(UM_PAIR, score_chosen=1)),
        2,
        "score_chosen",
        "not above",
        2,
    ),
    (
        "pair duplicate JSON key",
        RB,
        around(RB, _pair(RB)[:-1] + b', "chosen": "other"}'),
        2,
        "chosen",
        "duplicate key",
        2,
    ),
    ("pair duplicate id", RB, around(RB, line(good(RB, 1))), 2, "id", "duplicate id", 2),
    (
        "pair message without content",
        RB,
        around(RB, _pair(RB, prompt=[{"role": "user"}])),
        2,
        "prompt[0].content",
        "required",
        2,
    ),
    ("pair truncated line", RB, around(RB, _pair(RB)[:30]), 2, None, "invalid JSON", 2),
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


@pytest.mark.parametrize(
    ("fmt", "content", "line_no", "field", "reason", "kept"),
    [c[1:] for c in PAIR_CASES],
    ids=[c[0] for c in PAIR_CASES],
)
def test_bad_pair_is_quarantined(tmp_path, tally, fmt, content, line_no, field, reason, kept):
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(content)
    lost = check(
        read_pairs(path, "ultramedical" if fmt == UM_PAIR else fmt, "p"),
        path,
        line_no,
        field,
        reason,
        kept,
    )
    tally.add(records_lost=lost)

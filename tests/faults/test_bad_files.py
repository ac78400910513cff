"""Bad files: a file that cannot be read record by record is one clear SourceError naming it
(and the line, where there is one); BOMs and CRLF are read exactly like the clean file."""

from __future__ import annotations

import json

import polars as pl
import pytest
from data_core.errors import SourceError
from data_core.io import read_records, write_records
from data_core.readers import read_source
from data_core.schemas import EvalItem, Instruction
from rewards.pairs import read_pairs

from tests.faults.cases import good, line

pytestmark = pytest.mark.bad_input  # each test is one malformed input (conftest)

CHAT = b"".join(line(good("chat", i)) + b"\n" for i in range(3))
MEDQA = b"".join(line(good("medqa", i)) + b"\n" for i in range(3))
PASSAGES = json.dumps([good("passages", i) for i in range(3)], indent=1).encode()
CSV = b"Q1?,a,b,c,d,A\nQ2?,a,b,c,d,B\n"

# (case, format, file name, content, what the message must say besides the file)
FILE_ERRORS = [
    ("UTF-16 JSONL", "medqa", "a.jsonl", MEDQA.decode().encode("utf-16"), "UTF-16"),
    ("UTF-16 JSON document", "passages", "a.json", PASSAGES.decode().encode("utf-16"), "UTF-16"),
    ("UTF-16 CSV", "mmlu_csv", "a_test.csv", CSV.decode().encode("utf-16"), "UTF-16"),
    ("UTF-32 JSONL", "chat", "a.jsonl", CHAT.decode().encode("utf-32"), "UTF-32"),
    ("JSON Lines saved as .json", "medqa", "a.json", MEDQA, ":2: extra data"),
    ("garbage after the JSON array", "passages", "a.json", PASSAGES + b"\n}{", "extra data"),
    ("empty file", "chat", "a.jsonl", b"", "empty file"),
    ("whitespace-only file", "passages", "a.json", b"\n \r\n", "empty file"),
]


@pytest.mark.parametrize(
    ("fmt", "name", "content", "says"),
    [c[1:] for c in FILE_ERRORS],
    ids=[c[0] for c in FILE_ERRORS],
)
def test_unreadable_file_is_one_clear_error(tmp_path, fmt, name, content, says):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(SourceError) as err:
        read_source(path, fmt, "src")
    assert str(err.value).startswith(str(path)) and says in str(err.value)


@pytest.mark.parametrize(
    ("content", "says"),
    [(b"", "empty file"), ('{"prompt": "hi"}\n'.encode("utf-16"), "UTF-16")],
    ids=["empty pair file", "UTF-16 pair file"],
)
def test_unreadable_pair_file_is_one_clear_error(tmp_path, content, says):
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(content)
    with pytest.raises(SourceError, match=says) as err:
        read_pairs(path, "rewardbench", "p")
    assert str(path) in str(err.value)


def _bom(data: bytes) -> bytes:
    return b"\xef\xbb\xbf" + data


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\n", b"\r\n")


# (case, format, file name, clean content, change that must not change what is read)
TOLERATED = [
    ("UTF-8 BOM JSONL", "chat", "a.jsonl", CHAT, _bom),
    ("UTF-8 BOM JSON document", "passages", "a.json", PASSAGES, _bom),
    ("UTF-8 BOM CSV", "mmlu_csv", "a_test.csv", CSV, _bom),
    ("CRLF JSONL", "medqa", "a.jsonl", MEDQA, _crlf),
    ("CRLF JSON document", "passages", "a.json", PASSAGES, _crlf),
    ("CRLF CSV", "mmlu_csv", "a_test.csv", CSV, _crlf),
]


@pytest.mark.parametrize(
    ("fmt", "name", "clean", "change"), [c[1:] for c in TOLERATED], ids=[c[0] for c in TOLERATED]
)
def test_bom_and_crlf_read_like_the_clean_file(tmp_path, fmt, name, clean, change):
    (tmp_path / "clean").mkdir()
    (tmp_path / "clean" / name).write_bytes(clean)
    (tmp_path / name).write_bytes(change(clean))
    expected = read_source(tmp_path / "clean" / name, fmt, "src")
    got = read_source(tmp_path / name, fmt, "src")
    assert got.records == expected.records and len(got.records) >= 2 and not got.quarantined
    assert "\r" not in json.dumps([r.model_dump() for r in got.records])


def _item() -> EvalItem:
    return EvalItem(id="t:1", task="t", question="q?", options={"A": "x", "B": "y"}, answer="A")


def test_parquet_with_the_wrong_schema_names_file_and_columns(tmp_path):
    path = tmp_path / "items.parquet"
    write_records(path, [_item()], EvalItem)
    with pytest.raises(SourceError, match=r"not a valid Instruction table: missing column") as err:
        read_records(path, Instruction)
    assert str(path) in str(err.value) and "'messages'" in str(err.value)


def test_parquet_with_a_wrong_type_names_file_row_and_field(tmp_path):
    path = tmp_path / "items.parquet"
    write_records(path, [_item(), _item()], EvalItem)
    pl.read_parquet(path).with_columns(task=pl.Series([None, "t"])).write_parquet(path)
    with pytest.raises(SourceError, match=r"items.parquet: row 0: .*field 'task'"):
        read_records(path, EvalItem)


def test_parquet_with_bad_json_in_a_mapping_cell_names_the_field(tmp_path):
    path = tmp_path / "items.parquet"
    write_records(path, [_item()], EvalItem)
    pl.read_parquet(path).with_columns(meta=pl.lit("{not json")).write_parquet(path)
    with pytest.raises(SourceError, match=r"row 0: .*field 'meta': not valid JSON"):
        read_records(path, EvalItem)


@pytest.mark.parametrize("cut", [0.5, 0.0], ids=["truncated Parquet", "zero-byte Parquet"])
def test_truncated_parquet_is_a_clear_error(tmp_path, cut):
    path = tmp_path / "items.parquet"
    write_records(path, [_item()], EvalItem)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(SourceError, match=r"items.parquet: not a readable Parquet file"):
        read_records(path, EvalItem)


def test_hf_disk_folder_that_is_no_dataset(tmp_path):
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "data.txt").write_text("hello")
    with pytest.raises(SourceError, match=r"ds: not a Hugging Face dataset"):
        read_source(tmp_path / "ds", "hf_disk", "hf")

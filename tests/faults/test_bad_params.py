"""Bad params: each is one ConfigError naming the file and the key; through a stage's entry
point, bad params or an unreadable source exit 2 with one `error:` line and no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from data_core.config import (
    DecontaminateConfig,
    FetchConfig,
    IngestConfig,
    load_params,
    parse_section,
)
from data_core.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
SOURCE = {"name": "s", "format": "chat", "path": "src.jsonl"}

# (case, params text, section, model, what the message must say after the file name)
CASES = [
    (
        "misspelt key",
        "decontaminate: {dedup: {threshhold: 0.5}}",
        "decontaminate",
        DecontaminateConfig,
        "decontaminate.dedup.threshhold: unknown key",
    ),
    (
        "misspelt source key",
        "ingest: {sources: [{name: s, formt: chat, path: x}]}",
        "ingest",
        IngestConfig,
        "ingest.sources[0].formt: unknown key",
    ),
    (
        "out of range",
        "decontaminate: {dedup: {threshold: 1.5}}",
        "decontaminate",
        DecontaminateConfig,
        "decontaminate.dedup.threshold: Input should be less than or equal to 1",
    ),
    (
        "out of range fraction",
        "decontaminate: {split: {test_fraction: 1.0}}",
        "decontaminate",
        DecontaminateConfig,
        "decontaminate.split.test_fraction: Input should be less than 1",
    ),
    (
        "NaN value",
        "decontaminate: {dedup: {threshold: .nan}}",
        "decontaminate",
        DecontaminateConfig,
        "decontaminate.dedup.threshold:",
    ),
    (
        "wrong type",
        "decontaminate: {dedup: {num_perm: many}}",
        "decontaminate",
        DecontaminateConfig,
        "decontaminate.dedup.num_perm: Input should be a valid integer",
    ),
    (
        "list given a mapping",
        "ingest: {sources: {name: s}}",
        "ingest",
        IngestConfig,
        "ingest.sources: Input should be a valid list",
    ),
    (
        "section is a scalar",
        "decontaminate: 5",
        "decontaminate",
        DecontaminateConfig,
        "decontaminate: Input should be a valid dictionary",
    ),
    (
        "unknown format",
        "ingest: {sources: [{name: s, format: chatt, path: x}]}",
        "ingest",
        IngestConfig,
        "ingest.sources[0].format: unknown format 'chatt'",
    ),
    (
        "fetch path escaping data/raw",
        "fetch: {files: [{path: ../x, sha256: " + "0" * 64 + "}]}",
        "fetch",
        FetchConfig,
        "fetch.files[0].path: must be a relative path",
    ),
    (
        "missing section",
        "ingest: {}",
        "decontaminate",
        DecontaminateConfig,
        "missing section 'decontaminate'",
    ),
]


@pytest.mark.bad_input
@pytest.mark.parametrize(
    ("text", "section", "model", "says"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_params_name_file_and_key(tmp_path, text, section, model, says):
    path = tmp_path / "params.yaml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as err:
        parse_section(load_params(path), section, model, source=str(path))
    assert str(err.value).startswith(f"{path}: ") and says in str(err.value), str(err.value)


@pytest.mark.bad_input
@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"ingest: [unclosed\n", "not valid YAML"),
        (b"- ingest\n- fetch\n", "expected a mapping"),
        ("ingest: {}\n".encode("utf-16"), "not UTF-8 text"),
        (b"ingest: {}\nfetch: {}\ningest: {hpo: {}}\n", "duplicate key 'ingest'"),
    ],
    ids=["not YAML", "top level a list", "UTF-16 params", "duplicate section"],
)
def test_unreadable_params_file(tmp_path, content, says):
    path = tmp_path / "params.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=says) as err:
        load_params(path)
    assert str(err.value).startswith(str(path))
    if "duplicate" in says:
        assert "line 3" in str(err.value)


def test_the_repository_params_have_no_duplicate_keys():
    assert "ingest" in load_params(REPO / "params.yaml")


def _ingest(root: Path, params: str | dict, source: bytes) -> subprocess.CompletedProcess[str]:
    """stages/ingest.py --root ROOT with these params and source file."""
    if isinstance(params, dict):
        params = yaml.safe_dump({**params, "paths": load_params(REPO / "params.yaml")["paths"]})
    (root / "params.yaml").write_text(params)
    (root / "src.jsonl").write_bytes(source)
    env = {
        "HF_HUB_OFFLINE": "1",
        "PATH": "/usr/bin:/bin",
        "HOME": str(root),
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
    }
    script = REPO / "stages" / "ingest.py"
    return subprocess.run(
        [sys.executable, str(script), "--root", str(root)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


CHAT = json.dumps({"id": "a", "messages": [{"role": "user", "content": "hi"}]}) + "\n"
INGEST = {"ingest": {"hpo": {"enabled": False}, "sources": [SOURCE], "eval_sets": []}}


@pytest.mark.bad_input
@pytest.mark.parametrize(
    ("params", "source", "says"),
    [
        ("ingest: {hpo: {enabled: false}}\ningest: {}\n", CHAT.encode(), "duplicate key 'ingest'"),
        (INGEST, CHAT.encode("utf-16"), "src.jsonl: the file is UTF-16-encoded"),
        (INGEST, b"", "src.jsonl: empty file"),
    ],
    ids=["duplicate params key", "UTF-16 source", "empty source"],
)
def test_stage_exits_2_with_one_clear_line(tmp_path, params, source, says):
    done = _ingest(tmp_path, params, source)
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1 and says in errors[0], done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.bad_input
def test_stage_quarantines_bad_records_and_counts_reconcile(tmp_path):
    bad = b'{"id": "b", "messages": [], "difficulty": NaN}\n{"id": "c", "id": "d"}\n'
    done = _ingest(tmp_path, INGEST, CHAT.encode() + bad)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    counts = json.loads((tmp_path / "metrics/ingest.json").read_text())
    assert counts["sources"]["s"] == {"read": 3, "kept": 1, "quarantined": 2}
    quarantine = [json.loads(x) for x in (tmp_path / "data/interim/quarantine.jsonl").open()]
    assert [(q["line"], q["field"]) for q in quarantine] == [(2, "difficulty"), (3, "id")]

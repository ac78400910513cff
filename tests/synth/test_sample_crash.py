"""kill -9 the sample stage mid-run; the re-run finishes with nothing lost, duplicated or redone.

The panel is the kb teacher, then an API teacher (the fake server on 127.0.0.1). The server holds
every request after its first PAUSE answers, so the kill lands at a known point of the run
whatever the machine's speed: the kb member done, the API member PAUSE answers in.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import yaml
from data_core.io import write_records
from data_core.schemas import Instruction
from synth.knowledge_base import load_kb
from synth.synthesize import synthesize_kb

from tests.fixtures.fake_openai import FakeOpenAIServer
from tests.fixtures.fake_teacher import reply
from tests.fixtures.mlflow_runs import last_stage_metrics
from tests.fixtures.toy_hpo import TOY_DOMAIN, write_toy_hpo

REPO = Path(__file__).resolve().parents[2]
PATHS = yaml.safe_load((REPO / "params.yaml").read_text())["paths"]
API_SUBSET, PAUSE = 20, 15  # the API member answers 20 instructions twice; the kill after 15
PANEL = [
    {"backend": "kb", "n": 1},
    {"backend": "teacher", "n": 2, "max_instructions": API_SUBSET},
]
KEY_ENV = "SAMPLE_CRASH_API_KEY"


def _setup(root: Path, small_config, base_url: str) -> int:
    """The root's inputs and params; returns the completions an uninterrupted run writes."""
    if not (root / "data/synth/scored.parquet").exists():
        diseases, terms = write_toy_hpo(root / "data/interim")
        kb = load_kb(diseases, terms, TOY_DOMAIN, 3)
        records, _, _ = synthesize_kb(kb, small_config())
        write_records(root / "data/synth/scored.parquet", records, Instruction)
    teacher = {"kind": "openai", "model": "fake-teacher", "base_url": base_url}
    params = {
        "knowledge": TOY_DOMAIN.model_dump(),
        "synth": {
            "synthesize": {"min_phenotypes": 3},
            "backends": {"kb": {"kind": "kb"}, "teacher": teacher | {"api_key_env": KEY_ENV}},
            "sample": {"panel": PANEL, "chunk": 8},
        },
        "paths": PATHS,  # the repository's own names, under the tmp root
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    records = pl.read_parquet(root / "data/synth/scored.parquet").height
    return records + 2 * min(records, API_SUBSET)


def _rows(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    except sqlite3.OperationalError:  # table not created yet
        return 0


def _run(root: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "TQDM_DISABLE": "1",
        KEY_ENV: "sk-sample-crash",
    }
    return subprocess.Popen(
        [sys.executable, str(REPO / "stages/sample.py"), "--root", str(root)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _wait(done, proc: subprocess.Popen, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert proc.poll() is None, f"the stage exited before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_kill_9_then_rerun(tmp_path, small_config):
    db = tmp_path / "data/synth/cache/sample.sqlite"
    with FakeOpenAIServer(reply=reply, pause_after=PAUSE) as paused:
        expected = _setup(tmp_path, small_config, paused.base_url)
        proc = _run(tmp_path)
        try:
            _wait(lambda: paused.answered_total == PAUSE, proc, f"{PAUSE} API answers")
            kb_part = expected - 2 * API_SUBSET
            _wait(lambda: _rows(db) == kb_part + PAUSE, proc, "the answers to be committed")
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    done_before = _rows(db)
    assert done_before == kb_part + PAUSE  # nothing after the pause: the kill point is exact
    assert not (tmp_path / "data/synth/completions.parquet").exists()

    with FakeOpenAIServer(reply=reply) as healthy:
        _setup(tmp_path, small_config, healthy.base_url)
        rerun = _run(tmp_path)
        output = rerun.communicate(timeout=180)[0].decode()
    assert rerun.returncode == 0, output[-2000:]
    assert not set(healthy.calls) & set(paused.answered)  # no answered request asked again
    assert healthy.answered_total == 2 * API_SUBSET - PAUSE
    completions = pl.read_parquet(tmp_path / "data/synth/completions.parquet")
    keys = completions.select("prompt_id", "model", "sample")
    assert completions.height == expected  # nothing missing
    assert keys.unique().height == expected  # nothing duplicated
    assert json.loads((tmp_path / "metrics/sample.json").read_text())["completions"] == expected
    # Cache traffic is run-dependent: MLflow has it, the committed metrics JSON does not.
    metrics = last_stage_metrics(tmp_path, "sample")
    assert metrics["cache_hits"] == done_before  # everything finished before the kill is reused
    assert metrics["cache_misses"] == expected - done_before
    calls = sum(v for k, v in metrics.items() if k.endswith(".backend_calls"))
    assert calls == expected - done_before  # the teachers were asked only for what was missing
    assert _rows(db) == expected

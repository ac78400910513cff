"""kill -9 the sample stage mid-run; the re-run finishes with nothing lost, duplicated or redone."""

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

from tests.fixtures.mlflow_runs import last_stage_metrics
from tests.fixtures.toy_hpo import TOY_DOMAIN, write_toy_hpo

REPO = Path(__file__).resolve().parents[2]
PATHS = yaml.safe_load((REPO / "params.yaml").read_text())["paths"]
PANEL = [{"backend": "kb", "n": 1}, {"backend": "noisy", "n": 2}]


def _setup(root: Path, small_config) -> int:
    diseases, terms = write_toy_hpo(root / "data/interim")
    cfg = small_config()
    kb = load_kb(diseases, terms, TOY_DOMAIN, 3)
    records, _, _ = synthesize_kb(kb, cfg)
    write_records(root / "data/synth/scored.parquet", records, Instruction)
    params = {
        "knowledge": TOY_DOMAIN.model_dump(),
        "synth": {
            "synthesize": {"min_phenotypes": 3},
            # Simulated teacher latency, so that the kill lands in the middle of the run.
            "backends": {
                "kb": {"kind": "kb", "latency_s": 0.01},
                "noisy": {"kind": "kb", "error_rate": 0.3, "latency_s": 0.01},
            },
            "sample": {"panel": PANEL, "chunk": 8},
        },
    }
    params["paths"] = PATHS  # the repository's own names, under the tmp root
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return len(records) * sum(m["n"] for m in PANEL)


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
    }
    return subprocess.Popen(
        [sys.executable, str(REPO / "stages/sample.py"), "--root", str(root)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_kill_9_then_rerun(tmp_path, small_config):
    expected = _setup(tmp_path, small_config)
    db = tmp_path / "data/synth/cache/sample.sqlite"
    proc = _run(tmp_path)
    deadline = time.time() + 120
    while _rows(db) < expected // 3 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the stage finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = _rows(db)
    assert 0 < done_before < expected
    assert not (tmp_path / "data/synth/completions.parquet").exists()

    rerun = _run(tmp_path)
    output = rerun.communicate(timeout=180)[0].decode()
    assert rerun.returncode == 0, output[-2000:]
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
    assert calls == expected - done_before  # the teacher was asked only for what was missing
    assert _rows(db) == expected

"""An API key set in the environment reaches no file: MLflow, caches, logs, metrics, outputs.

The real stage scripts and the eval command run as subprocesses against loopback OpenAI-compatible
servers (one that answers, one that fails with 500, one that answers 401 quoting the key back as
hosted APIs do), then every byte under the run's folder is searched for the key.
"""

from __future__ import annotations

import http.server
import json
import os
import secrets
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import yaml
from data_core.io import write_records
from data_core.schemas import Passage

from tests.faults.secret_scan import env_secrets, key_shaped, scan, variants
from tests.faults.tally import Tally
from tests.fixtures.fake_openai import FakeOpenAIServer
from tests.fixtures.toy_hpo import TOY_DOMAIN, write_toy_hpo

REPO = Path(__file__).resolve().parents[2]
KEY_VAR = "ULTRAMEDICAL_CANARY_KEY"
EVAL = Path(sys.executable).parent / "ultramedical-eval"
SYNTH_STAGES = ["synthesize", "evolve", "score", "sample", "judge"]


def _reply(body: dict[str, Any]) -> str:
    """A judge prompt gets scores per response, anything else an answer naming a letter."""
    text = body["messages"][-1]["content"]
    if "/10" in text:
        return "\n".join(f"Response {i}: {4 + i % 5}/10" for i in range(1, 13))
    return "The answer is B. Because it fits the findings."


def _params(base_url: str, model: str = "teacher") -> dict[str, Any]:
    api = {
        "kind": "openai",
        "model": model,
        "base_url": base_url,
        "api_key_env": KEY_VAR,
        "max_retries": 1,
        "retry_initial_s": 0.0,
        "retry_max_s": 0.0,
        "timeout_s": 10.0,
    }
    synth = {
        "heldout": {"diagnosis": 4, "diagnosis_heldout": 4, "diagnosis_dev": 2, "definition": 4},
        "backends": {"kb": {"kind": "kb"}, "api": api},
        "synthesize": {
            "counts": {"definition": 4, "diagnosis": 6, "phenotype": 3, "hierarchy": 3},
            "min_phenotypes": 3,
        },
        "evolve": {"fraction": 0.3},
        "sample": {"panel": [{"backend": "kb"}, {"backend": "api", "max_instructions": 6}]},
        "judge": {"backend": "api"},
    }
    paths = yaml.safe_load((REPO / "params.yaml").read_text())["paths"]
    return {"paths": paths, "knowledge": TOY_DOMAIN.model_dump(), "synth": synth}


def _run(cmd: list[str], cwd: Path, log: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run with stdout/stderr captured into `log` (a log file a user would keep)."""
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"$ {' '.join(cmd)}\n{done.stdout}\n--- stderr ---\n{done.stderr}")
    return done


class _Hostile401(http.server.BaseHTTPRequestHandler):
    """Rejects every request with 401, quoting the Authorization header back in the body."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        auth = self.headers.get("Authorization", "")
        body = json.dumps({"error": {"message": f"Incorrect API key provided: {auth}"}}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("WWW-Authenticate", auth)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _eval_cmd(base_url: str, items: Path, out: Path) -> list[str]:
    return [
        str(EVAL),
        *("--model", base_url, "--model-id", "served/fake", "--api-key-env", KEY_VAR),
        *("--scorer", "generate", "--tasks", str(items), "--output", str(out)),
        *("--cache-dir", str(out / "cache"), "--seed", "0", "-v"),
    ]


def _eval_items(path: Path) -> Path:
    options = {"A": "Vitamin C", "B": "Vitamin D", "C": "Iron", "D": "Zinc"}
    lines = [
        json.dumps(
            {
                "id": f"mine:{i}",
                "question": f"Item {i}: which one?",
                "options": options,
                "answer": "AB"[i % 2],
            }
        )
        for i in range(4)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_api_key_reaches_no_file_log_or_mlflow_run(tmp_path: Path, tally: Tally) -> None:
    key = f"sk-ultramedical-canary-{secrets.token_hex(16)}"
    root = tmp_path / "project"
    write_toy_hpo(root / "data/interim", n_diseases=60)
    seed = Passage(id="textbooks:1", source="textbooks", text="Scurvy follows vitamin C lack.")
    write_records(root / "data/clean/passages.parquet", [seed], Passage)
    env = {
        **os.environ,
        KEY_VAR: key,
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "TQDM_DISABLE": "1",
        "HF_HUB_OFFLINE": "1",
    }
    logs = tmp_path / "logs"
    stage = [sys.executable, "-u", "STAGE", "--root", str(root)]
    with FakeOpenAIServer(reply=_reply, idle_timeout_s=300) as good:
        (root / "params.yaml").write_text(yaml.safe_dump(_params(good.base_url)))
        for name in SYNTH_STAGES:
            cmd = [str(REPO / f"stages/{name}.py") if a == "STAGE" else a for a in stage]
            done = _run(cmd, root, logs / f"{name}.log", env)
            assert done.returncode == 0, f"{name}: {done.stderr[-3000:]}"
        items = _eval_items(tmp_path / "items.jsonl")
        done = _run(
            _eval_cmd(good.base_url, items, tmp_path / "eval"), tmp_path, logs / "eval.log", env
        )
        assert done.returncode == 0, done.stderr[-3000:]
        # the key was really in use: every request carried it
        assert good.auth_headers == {f"Bearer {key}"}
        assert good.answered_total > 0

    # a server failing every request: the stage ends with one error line, no traceback
    def always_500(key_: str, attempt: int) -> str:
        return "500"

    with FakeOpenAIServer(faults=always_500, idle_timeout_s=300) as failing:
        (root / "params.yaml").write_text(yaml.safe_dump(_params(failing.base_url, "other")))
        cmd = [str(REPO / "stages/sample.py") if a == "STAGE" else a for a in stage]
        done = _run(cmd, root, logs / "sample_500.log", env)
        assert failing.auth_headers == {f"Bearer {key}"} and failing.faults_sent["500"] > 0
    assert done.returncode != 0 and "error:" in done.stderr and "Traceback" not in done.stderr

    # a server that rejects the key and quotes it back: the error we print must not repeat it
    hostile = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostile401)
    threading.Thread(target=hostile.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{hostile.server_port}/v1"
    try:
        (root / "params.yaml").write_text(yaml.safe_dump(_params(url, "rejected")))
        sample_401 = _run(cmd, root, logs / "sample_401.log", env)
        eval_401 = _run(
            _eval_cmd(url, items, tmp_path / "eval401"), tmp_path, logs / "eval_401.log", env
        )
    finally:
        hostile.shutdown()
        hostile.server_close()
    for done in (sample_401, eval_401):
        assert done.returncode != 0 and "error" in done.stderr, done.stderr[-2000:]
        assert "Traceback" not in done.stderr

    # everything the runs wrote: MLflow (sqlite + artifacts), caches, outputs, metrics, logs
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert "project/mlflow.db" in written and "logs/sample_401.log" in written
    assert {"project/data/synth/cache/sample.sqlite", "project/metrics/judge.json"} <= written
    assert any(p.startswith("eval/cache/") for p in written)
    result = scan([tmp_path], [key])
    print(f"secret scan: {result.files} files, {result.bytes} bytes, {len(result.hits)} hits")
    tally.add(files_scanned=result.files, secrets_found=len(result.hits))
    assert result.hits == []
    assert key_shaped([tmp_path]) == []


def test_the_scan_finds_a_planted_key(tmp_path: Path) -> None:
    """The search above can fail: a key written raw, compressed or encoded is found."""
    import base64
    import gzip
    import sqlite3

    import polars as pl

    key = f"sk-ultramedical-canary-{secrets.token_hex(16)}"
    (tmp_path / "run.log").write_text(f"calling with Authorization: Bearer {key}\n")
    pl.DataFrame({"text": ["x" * 50 + key]}).write_parquet(
        tmp_path / "t.parquet", compression="zstd"
    )
    (tmp_path / "blob.gz").write_bytes(gzip.compress(key.encode()))
    (tmp_path / "b64.txt").write_bytes(base64.b64encode(b"ab" + key.encode() + b"cd"))
    with sqlite3.connect(tmp_path / "m.db") as db:
        db.execute("CREATE TABLE params (key TEXT, value TEXT)")
        db.execute("INSERT INTO params VALUES ('api_key', ?)", (key,))
    (tmp_path / "clean.txt").write_text("nothing here")
    result = scan([tmp_path], [key])
    found = {(Path(f).name, view) for f, view, _ in result.hits}
    assert {("run.log", "bytes"), ("t.parquet", "parquet"), ("blob.gz", "gzip")} <= found
    assert {("b64.txt", "bytes"), ("m.db", "bytes")} <= found
    assert "clean.txt" not in {name for name, _ in found}
    assert {n for _, _, n in result.hits if n.startswith("base64")}
    # an unknown key is still caught by its shape
    assert [m for _, m in key_shaped([tmp_path / "run.log"])] == [f"Bearer {key}"]
    assert "url" in variants(key) and env_secrets({"MY_API_KEY": key, "HOME": "/x" * 9}) == [key]


def test_repository_outputs_hold_no_key(tally: Tally) -> None:
    """dvc.lock, model cards, reports and metrics: no credential shape, no value of a set key."""
    targets = [REPO / "dvc.lock", REPO / "reports", REPO / "metrics"]
    targets += sorted((REPO / "models").glob("*/README.md"))
    result = scan(targets, env_secrets(dict(os.environ)))
    tally.add(files_scanned=result.files, secrets_found=len(result.hits))
    print(f"repository scan: {result.files} files, {result.bytes} bytes")
    assert result.files > 0 and result.hits == []
    assert key_shaped(targets) == []

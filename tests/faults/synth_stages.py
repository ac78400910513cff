"""Small synth stage roots whose teacher is an OpenAI-compatible API (the fake server), and the
means to run a stage as a subprocess, stop it at a chosen number of answers and kill it -9."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import yaml
from data_core.io import write_records
from data_core.schemas import Completion, Instruction, Passage
from synth.config import SynthConfig
from synth.knowledge_base import load_kb
from synth.sample import prompt_messages, stable_order
from synth.synthesize import synthesize_kb

from tests.fixtures.fake_openai import FakeOpenAIServer
from tests.fixtures.fake_teacher import reply
from tests.fixtures.toy_hpo import TOY_DOMAIN, write_toy_hpo

REPO = Path(__file__).resolve().parents[2]
PATHS = yaml.safe_load((REPO / "params.yaml").read_text())["paths"]
KEY_ENV = "FAKE_TEACHER_API_KEY"  # the teacher's key: only the environment holds it
SEED = 42
KB_COUNTS = {"definition": 3, "diagnosis": 4, "phenotype": 3, "hierarchy": 2}
HELDOUT = {"diagnosis": 3, "diagnosis_heldout": 2, "diagnosis_dev": 2, "definition": 2}
# A slow teacher (every answer waits) that still keeps a run short: the kill points are counted
# in answers, so neither its speed nor the machine's moves them.
LATENCY_S = 0.02
N_PASSAGES, N_SAMPLES = 24, 2  # synthesize: one request per passage; sample: 2 per instruction


@dataclass(frozen=True)
class Stage:
    name: str
    outputs: tuple[str, ...]  # params `paths:` names of the data the stage writes

    def files(self, root: Path) -> list[Path]:
        """The stage's outputs: its data tables and its metrics JSON."""
        return [root / _path(name) for name in self.outputs] + [
            root / PATHS["metrics"] / f"{self.name}.json"
        ]

    @property
    def cache(self) -> str:
        return f"{PATHS['synth']['cache']}/{self.name}.sqlite"


STAGES = {
    "synthesize": Stage("synthesize", ("synth.instructions", "synth.heldout_eval")),
    "sample": Stage("sample", ("synth.completions",)),
    "judge": Stage("judge", ("synth.judgements",)),
}


def expected_requests(root: Path, stage: Stage) -> int:
    """The distinct teacher requests an uninterrupted run needs, counted from its inputs."""
    if stage.name == "synthesize":
        return pl.read_parquet(root / _path("clean.passages")).height  # one per text seed
    if stage.name == "sample":
        return pl.read_parquet(root / _path("synth.scored")).height * N_SAMPLES
    # judge: two position-swapped passes per prompt; with two answers the passes are one and the
    # same request when the answers are equal, and that request is asked once
    texts = pl.read_parquet(root / _path("synth.completions")).group_by("prompt_id").agg("text")
    return sum(1 if len(set(t)) == 1 else 2 for t in texts["text"].to_list())


def _path(name: str) -> str:
    node: Any = PATHS
    for part in name.split("."):
        node = node[part]
    return str(node)


def _synth_params(base_url: str) -> dict[str, Any]:
    teacher = {
        "kind": "openai",
        "model": "fake-teacher",
        "base_url": base_url,
        "api_key_env": KEY_ENV,
        "concurrency": 4,
        "timeout_s": 60.0,
        "max_retries": 1,  # a dead teacher fails fast: one retry, no backoff
        "retry_initial_s": 0.0,
        "retry_max_s": 0.0,
    }
    return {
        "seed": SEED,
        "heldout": HELDOUT,
        "backends": {"kb": {"kind": "kb"}, "teacher": teacher},
        "synthesize": {
            "backend": "teacher",
            "counts": KB_COUNTS,
            "min_phenotypes": 3,
            "max_seeds": N_PASSAGES,
        },
        "sample": {"panel": [{"backend": "teacher", "n": N_SAMPLES}], "chunk": 8},
        "judge": {"backend": "teacher"},
    }


def point_at(root: Path, base_url: str) -> None:
    """(Re)write the root's params.yaml with the teacher at `base_url` (a new port per server)."""
    params = {
        "knowledge": TOY_DOMAIN.model_dump(),
        "synth": _synth_params(base_url),
        "paths": PATHS,  # the repository's own names, under the tmp root
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))


def make_root(root: Path, stage: str) -> Path:
    """A tmp repository root holding what `stage` reads: the toy HPO, then text seeds (synthesize),
    kb instructions (sample, judge) and teacher-written completions (judge)."""
    diseases, terms = write_toy_hpo(root / "data/interim")
    point_at(root, "http://127.0.0.1:9/v1")  # a port nobody serves until a test points it
    cfg = SynthConfig.model_validate(_synth_params("http://127.0.0.1:9/v1"))
    if stage == "synthesize":
        passages = [
            Passage(
                id=f"textbooks:p{i:02d}",
                source="textbooks",
                title=f"Chapter {i}",
                text=f"Deficiency {i} impairs collagen cross-linking in tissue {i % 5}. "
                "Repletion reverses the bleeding within weeks.",
            )
            for i in range(N_PASSAGES)
        ]
        write_records(root / _path("clean.passages"), passages, Passage)
        return root
    kb = load_kb(diseases, terms, TOY_DOMAIN, 3)
    records, _, _ = synthesize_kb(kb, cfg)
    write_records(root / _path("synth.scored"), records, Instruction)
    if stage == "judge":
        write_records(root / _path("synth.completions"), _completions(records), Completion)
    return root


def _completions(records: list[Instruction]) -> list[Completion]:
    """What the sample stage would have written with the fake teacher on the panel."""
    out = []
    for record in stable_order(records):
        for k in range(N_SAMPLES):
            body = {"messages": prompt_messages(record), "seed": SEED * 1009 + k}
            text = reply(body)
            out.append(Completion(prompt_id=record.id, model="teacher", sample=k, text=text))
    return out


def cached_rows(root: Path, stage: Stage, table: str = "responses") -> int:
    """Rows in a table of the stage's response cache: `responses` committed, or requests recorded
    as `failures` (0 before the table exists)."""
    db = root / stage.cache
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(db, timeout=5)
        try:
            return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:  # not created yet, or locked for a moment
        return 0


def start(root: Path, stage: Stage, log: Path) -> subprocess.Popen[bytes]:
    """The stage as `python stages/<stage>.py --root ROOT`, output to `log`."""
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "TQDM_DISABLE": "1",
        # MLflow's tracing prices token usage from a model catalog it fetches from github.com
        # (with retries: seconds per run offline); nothing here may leave 127.0.0.1.
        KEY_ENV: "sk-fake-teacher-key",
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, str(REPO / f"stages/{stage.name}.py"), "--root", str(root)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def finish(proc: subprocess.Popen[bytes], log: Path, timeout: float = 180) -> tuple[int, str]:
    """Wait for a stage run; its exit code and output."""
    proc.wait(timeout=timeout)
    return proc.returncode, log.read_text(errors="replace")


def wait_for(
    done: Callable[[], bool], proc: subprocess.Popen[bytes], what: str, timeout: float = 60
) -> None:
    """Poll until `done()`; fail if the stage exits first or nothing happens for `timeout` s."""
    deadline = time.monotonic() + timeout
    while not done():
        if proc.poll() is not None:
            raise AssertionError(f"the stage exited ({proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def kill_at(root: Path, stage: Stage, answers: int, log: Path) -> FakeOpenAIServer:
    """Run the stage until the teacher has answered `answers` more requests and the stage has
    committed them, then kill -9 it. Returns the (stopped) server with its counters."""
    before = cached_rows(root, stage)
    with FakeOpenAIServer(reply=reply, pause_after=answers, latency_s=LATENCY_S) as server:
        point_at(root, server.base_url)
        proc = start(root, stage, log)
        try:
            wait_for(lambda: server.answered_total >= answers, proc, f"{answers} answers")
            # Received = committed: the kill lands once every answer sent is in the cache.
            wait_for(
                lambda: cached_rows(root, stage) >= before + answers,
                proc,
                f"the cache to hold the {answers} answered responses "
                f"(it holds {cached_rows(root, stage) - before})",
                timeout=20,
            )
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, log.read_text(errors="replace")[-2000:]
    return server


def run_healthy(
    root: Path, stage: Stage, log: Path, **faults: Any
) -> tuple[FakeOpenAIServer, int, str]:
    """One run against a fresh server (optionally with `die_after` etc.): server, exit code, log."""
    with FakeOpenAIServer(reply=reply, latency_s=LATENCY_S, **faults) as server:
        point_at(root, server.base_url)
        code, output = finish(start(root, stage, log), log)
    return server, code, output

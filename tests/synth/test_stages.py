"""The six synth stages end to end on a toy HPO, as DVC runs them (one process per stage)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import yaml
from data_core.io import read_records, write_records
from data_core.knowledge import domain_parts
from data_core.schemas import EvalItem, Instruction, Message, Passage, Preference

from tests.fixtures.mlflow_runs import last_stage_metrics
from tests.fixtures.toy_hpo import TOY_DOMAIN, write_toy_hpo

REPO = Path(__file__).resolve().parents[2]
PATHS = yaml.safe_load((REPO / "params.yaml").read_text())["paths"]
STAGES = ["synthesize", "evolve", "score", "sample", "judge", "build"]


def test_pipeline_on_toy_hpo(tmp_path):
    write_toy_hpo(tmp_path / "data/interim", n_diseases=150)
    write_records(
        tmp_path / "data/clean/passages.parquet",
        [Passage(id="textbooks:1", source="textbooks", text="Some text.")],
        Passage,
    )
    manual = Instruction(
        id="manual:1",
        source="manual",
        type="open",
        split="train",
        messages=[
            Message(role="user", content="What is a toy?"),
            Message(role="assistant", content="A thing to play with."),
        ],
    )
    write_records(tmp_path / "data/clean/instructions.parquet", [manual], Instruction)
    bench = EvalItem(
        id="medqa:1",
        task="medqa",
        question="Which vitamin deficiency causes scurvy in sailors on long voyages without fruit?",
        options={"A": "Vitamin C", "B": "Vitamin D"},
        answer="A",
    )
    write_records(tmp_path / "data/interim/eval_items.parquet", [bench], EvalItem)
    params = {
        "knowledge": TOY_DOMAIN.model_dump(),
        "synth": {
            "heldout": {
                "diagnosis": 12,
                "diagnosis_heldout": 12,
                "diagnosis_dev": 6,
                "definition": 12,
            },
            "backends": {
                "kb": {"kind": "kb"},
                "low": {"kind": "kb", "error_rate": 0.15},
                "high": {"kind": "kb", "error_rate": 0.45},
            },
            "synthesize": {
                "counts": {"definition": 30, "diagnosis": 40, "phenotype": 30, "hierarchy": 30},
                "min_phenotypes": 3,
            },
            "sample": {
                "panel": [
                    {"backend": "kb"},
                    {"backend": "low", "n": 2},
                    {"backend": "high", "n": 2},
                ]
            },
            "build": {"test_fraction": 0.2, "hard_margin": 6.0},
        },
        "decontaminate": {},  # build screens with the defaults
    }
    params["paths"] = PATHS  # the repository's own names, under the tmp root
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "TQDM_DISABLE": "1",
    }
    for stage in STAGES:
        done = subprocess.run(
            [sys.executable, str(REPO / f"stages/{stage}.py"), "--root", str(tmp_path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"{stage}: {done.stderr[-2000:]}"
        assert (tmp_path / f"metrics/{stage}.json").exists()

    evals = read_records(tmp_path / "data/synth/heldout_eval.parquet", EvalItem)
    assert {e.task for e in evals} == {
        "hpo_diagnosis",
        "hpo_diagnosis_heldout",
        "hpo_diagnosis_dev",
        "hpo_definition",
    }
    scored = read_records(tmp_path / "data/synth/scored.parquet", Instruction)
    assert any(r.meta.get("parent") for r in scored) and all(r.difficulty for r in scored)
    completions = pl.read_parquet(tmp_path / "data/synth/completions.parquet")
    assert completions.height == len(scored) * 5
    prefs = read_records(tmp_path / "data/sets/preferences.parquet", Preference)
    assert {"easy", "hard"} <= {p.category for p in prefs} <= {"easy", "hard", "length"}
    sft = read_records(tmp_path / "data/sets/sft.parquet", Instruction)
    assert {r.split for r in sft} == {"train", "test"} and any(r.id == "manual:1" for r in sft)
    assert all(r.messages[-1].role == "assistant" for r in sft)
    lines = (tmp_path / "data/sets/preferences.jsonl").read_text().splitlines()
    assert len(lines) == len(prefs) and {"prompt", "chosen", "rejected"} <= set(
        json.loads(lines[0])
    )
    # The all-held-out variant: every option is a held-out disease of the knowledge domain, and no
    # option is named anywhere in an SFT record or a preference pair (so none was ever an answer).
    frame = pl.read_parquet(tmp_path / "data/interim/hpo_diseases.parquet")
    parts = domain_parts(frame, TOY_DOMAIN)
    variant = [e for e in evals if e.task == "hpo_diagnosis_heldout"]
    assert variant and all(
        parts.get(o) == "heldout" for e in variant for o in e.meta["option_ids"].values()
    )
    messages = [m for r in sft for m in r.messages]
    messages += [m for p in prefs for m in [*p.prompt, *p.chosen, *p.rejected]]
    training_text = "\n".join(m.content for m in messages)
    for e in variant:
        for name in e.options.values():
            assert not re.search(rf"\b{re.escape(name)}\b", training_text), name
    # build screened every synthesized instruction and completion; none copies the benchmark
    screened = json.loads((tmp_path / "metrics/build.json").read_text())["contamination"]
    assert screened["instruction"] == {"screened": len(scored), "removed": {}, "kept": len(scored)}
    assert screened["completion"]["screened"] == completions.height
    assert pl.read_parquet(tmp_path / "data/synth/removed.parquet").height == 0
    card = (tmp_path / "data/sets/README.md").read_text()
    assert "preference category" in card and "Lengths (words)" in card
    judge = json.loads((tmp_path / "metrics/judge.json").read_text())
    assert judge["verified_rate_by_model"]["kb"] == 1.0
    assert judge["verified_rate_by_model"]["kb"] > judge["verified_rate_by_model"]["high"]
    # metrics/<stage>.json is committed to git: results only, nothing a re-run changes.
    for stage in STAGES:
        text = (tmp_path / f"metrics/{stage}.json").read_text()
        assert not re.search(r"seconds|per_s|cache_|cost|latency|retries", text), stage
    before = (tmp_path / "metrics/sample.json").read_bytes()
    # Latency is wall-clock: the stage's MLflow run has it, the DVC-tracked table does not.
    assert not any("latency" in c for c in completions.columns)
    first = last_stage_metrics(tmp_path, "sample")
    assert first["latency_s.all.count"] == completions.height
    assert 0 < first["latency_s.kb.p50"] <= first["latency_s.kb.p95"]
    table = (tmp_path / "data/synth/completions.parquet").read_bytes()
    # A second run of `sample` is served entirely by the cache, and writes the same metrics.
    again = subprocess.run(
        [sys.executable, str(REPO / "stages/sample.py"), "--root", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0
    metrics = last_stage_metrics(tmp_path, "sample")
    assert metrics["cache_misses"] == 0 and metrics["cache_hits"] == completions.height
    assert "seconds" in metrics
    assert (tmp_path / "metrics/sample.json").read_bytes() == before
    # cache hits carry an earlier run's latency: not this run's, so not counted
    assert metrics["latency_s.all.count"] == 0
    assert (tmp_path / "data/synth/completions.parquet").read_bytes() == table

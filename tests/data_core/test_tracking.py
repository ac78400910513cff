"""A stage run lands in MLflow with params, git commit, dataset digests and metrics."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def test_ingest_stage_logs_to_mlflow(tmp_path, monkeypatch):
    (tmp_path / "src.jsonl").write_text(
        json.dumps({"id": "a", "messages": [{"role": "user", "content": "hi"}]}) + "\n{broken\n"
    )
    params = {
        "ingest": {
            "hpo": {"enabled": False},
            "sources": [{"name": "s", "format": "chat", "path": "src.jsonl"}],
            "eval_sets": [],
        },
        "paths": yaml.safe_load((REPO / "params.yaml").read_text())["paths"],
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(
        [
            "git",
            "-c",
            "user.email=t@t",
            "-c",
            "user.name=t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "x",
        ],
        cwd=tmp_path,
        check=True,
    )
    shutil.copytree(REPO / "stages", tmp_path / "stages")
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "stages/ingest.py"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    counts = json.loads((tmp_path / "metrics/ingest.json").read_text())
    assert counts["sources"]["s"] == {"read": 2, "kept": 1, "quarantined": 1}

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("ultramedical")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.data.tags["stage"] == "ingest"
    assert len(run.data.tags["mlflow.source.git.commit"]) == 40
    assert run.data.params["ingest.sources.0.format"] == "chat"
    assert run.data.metrics["sources.s.quarantined"] == 1.0
    contexts = {
        (d.dataset.name, i.tags[0].value if i.tags else None)
        for i in run.inputs.dataset_inputs
        for d in [i]
    }
    names = {i.dataset.name for i in run.inputs.dataset_inputs}
    assert {"s", "instructions", "quarantine"} <= names
    assert all(len(i.dataset.digest) > 8 for i in run.inputs.dataset_inputs)
    assert contexts


def test_bad_params_give_clear_error_naming_the_key(tmp_path):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"ingest": {"hpo": {"enabeld": True}}}))
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    shutil.copytree(REPO / "stages", tmp_path / "stages")
    proc = subprocess.run(
        [sys.executable, "stages/ingest.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert proc.returncode == 2
    assert "ingest.hpo.enabeld: unknown key" in proc.stderr and "Traceback" not in proc.stderr


def test_stage_run_sets_tags_through_its_public_method(tmp_path, monkeypatch):
    import mlflow
    from data_core.tracking import stage_run

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    with stage_run("train", {"lr": 0.1}, root=tmp_path) as run:
        run.set_tags({"model.sft.path": "models/sft", "resumed_from": 4})
        run.set_tags({})  # nothing to tag is fine
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    tags = client.get_run(run.run_id).data.tags
    assert tags["model.sft.path"] == "models/sft" and tags["resumed_from"] == "4"

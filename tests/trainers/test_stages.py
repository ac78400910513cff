"""The sft and dpo stage scripts end to end on a tiny model in a scratch repo: outputs, metrics
file, model card, and the MLflow run (per-step metrics, model reference, system metrics)."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import mlflow
import yaml
from data_core.config import load_params
from data_core.io import write_records
from data_core.schemas import Instruction, Preference
from trainers.model_dir import save_model_dir
from trainers.pretrain import new_model
from trainers.reporting import is_run_dependent

from tests.trainers.conftest import TINY_MODEL, instructions, preferences

ROOT = Path(__file__).resolve().parents[2]
STAGES = ROOT / "stages"
TRAIN = {
    "per_device_train_batch_size": 4,
    "max_length": 128,
    "logging_steps": 1,
    "save_steps": 50,
    "max_time_s": None,
}


def run_stage(script: str, root: Path, monkeypatch, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", [str(STAGES / script), *args, "--root", str(root)])
    runpy.run_path(str(STAGES / script), run_name="__main__")


def test_sft_and_dpo_stages(tmp_path, monkeypatch, tokenizer) -> None:
    params = {
        "paths": load_params(ROOT / "params.yaml")["paths"],  # the repo's layout, under tmp_path
        "sft": {**TRAIN, "learning_rate": 5e-3, "max_steps": 3},
        "preference": {**TRAIN, "learning_rate": 1e-3, "max_steps": 2},
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    write_records(tmp_path / "data/sets/sft.parquet", instructions(24), Instruction)
    write_records(tmp_path / "data/sets/preferences.parquet", preferences(16), Preference)
    save_model_dir(new_model(TINY_MODEL, tokenizer, seed=0), tokenizer, tmp_path / "models/base")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)  # MLflow's default artifact root is ./mlruns

    run_stage("sft.py", tmp_path, monkeypatch)
    run_stage("preference.py", tmp_path, monkeypatch, "--loss", "dpo")

    sft = json.loads((tmp_path / "metrics/sft.json").read_text())
    assert sft["global_step"] == 3 and sft["model"]["path"] == "models/sft"
    assert sft["heldout_loss_sft"] < sft["heldout_loss_base"]
    dpo = json.loads((tmp_path / "metrics/dpo.json").read_text())
    assert dpo["loss_type"] == "sigmoid" and "heldout_dpo_reward_accuracy" in dpo
    card = (tmp_path / "models/dpo/README.md").read_text()
    assert "base: `models/sft`" in card and "data/sets/preferences.parquet" in card
    # the metrics files hold results only: timings and resume paths went to MLflow
    for metrics in (sft, dpo):
        assert "train_loss" in metrics and not any(is_run_dependent(k) for k in metrics)

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = {r.info.run_name: r for r in client.search_runs(experiments)}
    assert {"sft", "dpo"} <= set(runs)
    dpo_run = runs["dpo"]
    assert dpo_run.data.tags["model.dpo.md5"] == dpo["model"]["md5"]
    history = client.get_metric_history(dpo_run.info.run_id, "rewards.accuracies")
    assert [m.step for m in history] == [1, 2]  # per step
    assert len(client.get_metric_history(runs["sft"].info.run_id, "loss")) == 3
    assert dpo_run.data.metrics["train_seconds"] > 0  # run-dependent values: MLflow only
    # the model view: a logged model pointing at the DVC folder; metrics/ keeps path + md5 only
    assert set(dpo["model"]) == {"path", "md5"}
    (model,) = client.search_logged_models(experiments, filter_string="name = 'dpo'")
    assert model.source_run_id == dpo_run.info.run_id
    assert model.tags["dvc_path"] == "models/dpo" and model.tags["dvc_md5"] == dpo["model"]["md5"]
    assert model.model_type == "LlamaForCausalLM"
    assert "heldout_dpo_reward_accuracy" in {m.key for m in model.metrics}
    assert not list((tmp_path / "mlruns").rglob("*.safetensors"))  # weights were not copied

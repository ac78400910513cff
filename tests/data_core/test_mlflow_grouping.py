"""The stage runs of one pipeline invocation share a pipeline id and nest under one parent run;
the experiment opens in the model-training view; a model is logged by reference, never copied.

DVC is simulated the way data_core.pipeline_run detects it: a "dvc" process without DVC_STAGE
runs each stage as a child process through `sh -c` with DVC_STAGE/DVC_ROOT (and, for
`dvc exp run`, DVC_EXP_NAME/DVC_EXP_BASELINE_REV) in the child's environment.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

STAGE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from data_core.tracking import stage_run

    stage, root = sys.argv[1], Path(sys.argv[2])
    with stage_run(stage, {stage: {"lr": 0.5, "steps": len(stage)}}, root=root) as run:
        run.log_metrics({"loss": len(stage) / 10, "counts": {"kept": 3}})
        if stage == "fail":
            raise SystemExit(3)
    """
)
# the stand-in for the dvc process: runs each stage in order through the shell, as DVC does
DVC = textwrap.dedent(
    """
    import os, shlex, subprocess, sys

    root, extra = sys.argv[1], dict(a.split("=", 1) for a in sys.argv[3:])
    for stage in sys.argv[2].split(","):
        env = {**os.environ, "DVC_STAGE": stage, "DVC_ROOT": root, **extra}
        cmd = f"{shlex.quote(sys.executable)} stage.py {stage} {shlex.quote(root)}"
        subprocess.run(["/bin/sh", "-c", cmd], cwd=root, env=env)
    """
)


def _client(root: Path):
    import mlflow

    return mlflow.MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")


def _invoke(root: Path, stages: str, *extra: str) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DVC_", "MLFLOW_", "ULTRAMEDICAL_"))
    }
    env["HF_HUB_OFFLINE"] = "1"
    done = subprocess.run(
        [sys.executable, "dvc_stub.py", str(root), stages, *extra],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture
def pipeline_root(tmp_path: Path) -> Path:
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "stage.py").write_text(STAGE)
    (tmp_path / "dvc_stub.py").write_text(DVC)
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "dvc.yaml"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "x"], cwd=tmp_path, check=True)
    return tmp_path


def test_stage_runs_of_one_invocation_share_a_parent(pipeline_root: Path) -> None:
    root = pipeline_root
    _invoke(root, "ingest,build")
    _invoke(root, "fail", "DVC_EXP_NAME=quick-fox", "DVC_EXP_BASELINE_REV=abc123")

    client = _client(root)
    exp = client.get_experiment_by_name("ultramedical")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    runs = client.search_runs([exp.experiment_id], max_results=100)
    stages = {r.data.tags["stage"]: r for r in runs if r.data.tags.get("pipeline_role") == "stage"}
    parents = {r.info.run_id: r for r in runs if r.data.tags.get("pipeline_role") == "pipeline"}
    assert set(stages) == {"ingest", "build", "fail"}
    assert len(parents) == 2  # one per invocation

    ingest, build, fail = stages["ingest"], stages["build"], stages["fail"]
    parent_id = ingest.data.tags["mlflow.parentRunId"]
    assert build.data.tags["mlflow.parentRunId"] == parent_id
    assert ingest.data.tags["pipeline_id"] == build.data.tags["pipeline_id"]
    assert fail.data.tags["pipeline_id"] != ingest.data.tags["pipeline_id"]
    assert fail.data.tags["mlflow.parentRunId"] != parent_id

    parent = parents[parent_id]
    assert parent.data.tags["pipeline_id"] == ingest.data.tags["pipeline_id"]
    assert parent.data.tags["pipeline_stages"] == "ingest,build"
    assert parent.info.status == "FINISHED"
    assert set(parent.data.metrics) == {"stage_seconds.ingest", "stage_seconds.build"}
    assert parent.data.tags["pipeline_launcher"] == "dvc repro"
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
    for run in (parent, ingest, build):
        assert run.data.tags["git_commit"] == head.stdout.strip()
        assert run.data.tags["git_dirty"] == "false"
    assert ingest.data.tags["dvc_stage"] == "ingest" and ingest.data.tags["dvc_root"] == str(root)

    # params and metrics of the stage runs themselves
    assert build.data.params == {"build.lr": "0.5", "build.steps": "5"}
    assert build.data.metrics == {"loss": 0.5, "counts.kept": 3.0}

    # dvc exp run: the experiment's name and baseline on the stage run and its parent;
    # a failed stage fails its pipeline run
    exp_parent = parents[fail.data.tags["mlflow.parentRunId"]]
    for run in (fail, exp_parent):
        assert run.data.tags["dvc_exp_name"] == "quick-fox"
        assert run.data.tags["dvc_exp_baseline_rev"] == "abc123"
        assert run.info.status == "FAILED"
    assert exp_parent.info.run_name == "dvc exp run quick-fox"
    assert exp_parent.data.tags["pipeline_launcher"] == "dvc exp run"


def test_runs_outside_dvc_stand_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from data_core.tracking import stage_run

    for var in ("DVC_STAGE", "DVC_EXP_NAME", "ULTRAMEDICAL_PIPELINE_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    with stage_run("a", {"x": 1}, root=tmp_path) as first:
        pass
    with stage_run("b", {"x": 2}, root=tmp_path) as second:
        pass
    client = _client(tmp_path)
    a, b = client.get_run(first.run_id), client.get_run(second.run_id)
    assert "mlflow.parentRunId" not in a.data.tags
    assert a.data.tags["pipeline_launcher"] == "manual"
    assert a.data.tags["pipeline_id"] != b.data.tags["pipeline_id"]
    assert len(client.search_runs([a.info.experiment_id])) == 2  # no parent run was made

    # grouping by hand: the same id, one parent
    monkeypatch.setenv("ULTRAMEDICAL_PIPELINE_ID", "by-hand-1")
    with stage_run("c", {}, root=tmp_path) as c:
        pass
    with stage_run("d", {}, root=tmp_path) as d:
        pass
    c_tags, d_tags = client.get_run(c.run_id).data.tags, client.get_run(d.run_id).data.tags
    assert c_tags["mlflow.parentRunId"] == d_tags["mlflow.parentRunId"]
    assert c_tags["pipeline_id"] == d_tags["pipeline_id"] == "by-hand-1"


def test_model_is_logged_by_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from data_core.io import file_digest
    from data_core.tracking import stage_run

    monkeypatch.chdir(tmp_path)  # MLflow's default artifact root is ./mlruns
    monkeypatch.delenv("ULTRAMEDICAL_PIPELINE_ID", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    model_dir = tmp_path / "models" / "sft"
    model_dir.mkdir(parents=True)
    (model_dir / "model.safetensors").write_bytes(os.urandom(4096))
    (model_dir / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    before = {p.name: p.read_bytes() for p in model_dir.iterdir()}
    digest = file_digest(model_dir)

    with stage_run("sft", {"sft": {"lr": 0.001}}, root=tmp_path) as run:
        model_id = run.log_model("sft", model_dir, model_type="LlamaForCausalLM")
        run.log_metrics({"heldout_loss": 3.5})

    assert {p.name: p.read_bytes() for p in model_dir.iterdir()} == before
    client = _client(tmp_path)
    model = client.get_logged_model(model_id)
    assert model.source_run_id == run.run_id and model.name == "sft"
    assert model.tags["dvc_path"] == "models/sft" and model.tags["dvc_md5"] == digest
    assert model.tags["stage"] == "sft" and model.model_type == "LlamaForCausalLM"
    assert model.params == {"sft.lr": "0.001"}
    assert {m.key: m.value for m in model.metrics} == {"heldout_loss": 3.5}
    outputs = client.get_run(run.run_id).outputs.model_outputs
    assert [o.model_id for o in outputs] == [model_id]
    stored = [p for p in tmp_path.rglob("*") if p.is_file() and model_dir not in p.parents]
    assert not [p for p in stored if p.suffix in {".safetensors", ".bin", ".pt"}]
    assert any(p.name == "MLmodel" for p in stored)  # MLflow's stub, pointing elsewhere


def test_dirty_flag_ignores_outputs_dvc_rewrites(tmp_path: Path) -> None:
    from data_core.tracking import git_state

    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/build.json").write_text("{}\n")
    (tmp_path / "stage.py").write_text("print(1)\n")
    lock = (
        "schema: '2.0'\nstages:\n  build:\n    cmd: x\n    outs:\n    - path: metrics/build.json\n"
    )
    (tmp_path / "dvc.lock").write_text(lock)
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "."], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "x"], cwd=tmp_path, check=True)

    (tmp_path / "metrics/build.json").unlink()  # what `dvc repro` does before running build
    (tmp_path / "dvc.lock").write_text(lock + "# rewritten\n")
    assert git_state(tmp_path)["git_dirty"] == "false"
    (tmp_path / "stage.py").write_text("print(2)\n")
    assert git_state(tmp_path)["git_dirty"] == "true"


def test_runs_of_a_temp_dir_experiment_go_to_the_real_repo(tmp_path, monkeypatch) -> None:
    from data_core.tracking import tracking_uri

    scratch, real = tmp_path / "scratch", tmp_path / "repo"
    for folder in (scratch, real):
        folder.mkdir()
        (folder / "dvc.yaml").write_text("stages: {}\n")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    assert tracking_uri(scratch) == f"sqlite:///{scratch / 'mlflow.db'}"
    monkeypatch.setenv("DVC_ROOT", str(real))  # what `dvc exp run --temp` sets
    assert tracking_uri(scratch) == f"sqlite:///{real / 'mlflow.db'}"


def test_the_dvc_command_line_is_shown_from_its_executable() -> None:
    from data_core.pipeline_run import _dvc_command

    argv = ["/r/.venv/bin/python3", "/r/.venv/bin/dvc", "exp", "run", "-S", "sft.lr=1e-3"]
    assert _dvc_command(argv) == "dvc exp run -S sft.lr=1e-3"
    assert _dvc_command(["/usr/bin/dvc", "repro"]) == "dvc repro"

"""The profile mechanism under DVC itself, on a toy repo laid out as this one: `dvc exp run -S
profile=big` re-runs the stages that read a profile section (through data_core.config.
load_params) and only those, and `dvc params diff` shows the profile file's values."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dvc.cli import main as dvc_main

TRAIN = """\
import pathlib
from data_core.config import load_params
lr = load_params("params.yaml")["train"]["lr"]
pathlib.Path("model.txt").write_text(str(lr))
"""
PREPARE = """\
import pathlib, yaml
with open("prepare.log", "a") as log:  # not an out: counts the runs
    log.write("ran\\n")
pathlib.Path("data.txt").write_text(str(yaml.safe_load(open("params.yaml"))["prepare"]["n"]))
"""


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, capture_output=True, check=True)


def dvc(*args: str) -> None:
    assert dvc_main(list(args)) == 0, f"dvc {' '.join(args)} failed"


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    (root / "configs/profiles").mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "ci@example.org")
    git(root, "config", "user.name", "CI")
    params = {"profile": "embedded", "prepare": {"n": 2}, "train": {"lr": 1, "steps": 3}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    (root / "configs/profiles/embedded.yaml").write_text("train: {}\n")
    (root / "configs/profiles/big.yaml").write_text("train: {lr: 5}\n")
    (root / "train.py").write_text(TRAIN)
    (root / "prepare.py").write_text(PREPARE)
    (root / ".gitignore").write_text("prepare.log\n")
    stages = {
        "prepare": {
            "cmd": f"{sys.executable} prepare.py",
            "deps": ["prepare.py"],
            "params": ["prepare"],
            "outs": ["data.txt"],
        },
        "train": {
            "cmd": f"{sys.executable} train.py",
            "deps": ["train.py", "data.txt"],
            "params": ["train", {"configs/profiles/${profile}.yaml": ["train"]}],
            "outs": ["model.txt"],
        },
    }
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    monkeypatch.chdir(root)
    dvc("init", "-q")
    dvc("config", "--local", "cache.dir", str(root / ".dvc/cache"))
    git(root, "add", "-A")
    git(root, "commit", "-qm", "toy")
    dvc("repro", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "dvc.lock")
    return root


def test_one_flag_switches_profile_and_reruns_only_its_readers(
    toy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (toy / "model.txt").read_text() == "1"
    lock = yaml.safe_load((toy / "dvc.lock").read_text())["stages"]["train"]
    assert lock["params"]["configs/profiles/embedded.yaml"] == {"train": {}}

    dvc("exp", "run", "-q", "-S", "profile=big")
    assert (toy / "model.txt").read_text() == "5"
    assert (toy / "prepare.log").read_text().count("ran") == 1  # prepare reads no profile section
    lock = yaml.safe_load((toy / "dvc.lock").read_text())["stages"]["train"]
    assert lock["params"]["configs/profiles/big.yaml"] == {"train": {"lr": 5}}

    capsys.readouterr()
    dvc("params", "diff")
    diff = capsys.readouterr().out
    assert any(
        line.split() == ["params.yaml", "profile", "embedded", "big"] for line in diff.splitlines()
    )
    assert any(
        line.split() == ["configs/profiles/big.yaml", "train.lr", "-", "5"]
        for line in diff.splitlines()
    )

    # a profile's own key, set from the command line as any params file's
    dvc("exp", "run", "-q", "-S", "configs/profiles/big.yaml:train.lr=7")
    assert (toy / "model.txt").read_text() == "7"
    assert (toy / "prepare.log").read_text().count("ran") == 1

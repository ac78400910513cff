"""End to end: `dvc repro decontaminate` on a fresh clone works, and the second run is a no-op."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_repro_decontaminate_on_fresh_clone(tmp_path, shared_data):
    clone = tmp_path / "main"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    (tmp_path / "shared").symlink_to(shared_data.parent)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "HF_HUB_OFFLINE": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    dvc = shutil.which("dvc", path=str(bin_dir)) or "dvc"
    first = subprocess.run(
        [dvc, "repro", "decontaminate"], cwd=clone, env=env, capture_output=True, text=True
    )
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    report = json.loads((clone / "metrics/decontaminate.json").read_text())
    ingest = json.loads((clone / "metrics/ingest.json").read_text())
    for kind in ("instructions", "passages"):
        counts = report[kind]
        assert counts["read"] == counts["kept"] + sum(counts["removed"].values())
    assert ingest["eval_sets"]["medqa"]["kept"] == 1273
    assert report["instructions"]["read"] == ingest["total"]["instructions"]
    second = subprocess.run(
        [dvc, "repro", "decontaminate"], cwd=clone, env=env, capture_output=True, text=True
    )
    assert second.returncode == 0
    assert "Running stage" not in second.stdout and "didn't change" in second.stdout
    assert (clone / "mlflow.db").exists()

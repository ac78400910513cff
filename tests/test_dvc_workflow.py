"""DVC as a user drives it, on a two-stage toy pipeline in a temporary git repo: repro, push to a
local-folder remote and pull into an empty cache, an experiment with a changed parameter, the
offline plots template, and the CI check that dvc.lock follows code and params."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dvc.cli import main as dvc_main

from tools.dvc_lock_check import check

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "tools/plots/dist/offline.html"

PREPARE = """\
import pathlib, yaml
n = yaml.safe_load(open("params.yaml"))["prepare"]["n"]
pathlib.Path("data").mkdir(exist_ok=True)
pathlib.Path("data/numbers.txt").write_text("".join(f"{i}\\n" for i in range(n)))
"""
TRAIN = """\
import json, pathlib, yaml
scale = yaml.safe_load(open("params.yaml"))["train"]["scale"]
nums = [int(x) for x in pathlib.Path("data/numbers.txt").read_text().split()]
pathlib.Path("model").mkdir(exist_ok=True)
pathlib.Path("model/weights.txt").write_text(" ".join(str(x * scale) for x in nums))
pathlib.Path("metrics.json").write_text(json.dumps({"total": sum(nums) * scale}))
rows = "".join(f"{i},{x * scale}\\n" for i, x in enumerate(nums))
pathlib.Path("curve.csv").write_text("step,value\\n" + rows)
"""


def dvc_yaml(python: str) -> dict:
    """The toy stage graph: prepare -> train, with params, a metric and a plot."""
    return {
        "stages": {
            "prepare": {
                "cmd": f"{python} prepare.py",
                "deps": ["prepare.py"],
                "params": ["prepare"],
                "outs": ["data/numbers.txt"],
            },
            "train": {
                "cmd": f"{python} train.py",
                "deps": ["train.py", "data/numbers.txt"],
                "params": ["train.scale"],
                "outs": ["model"],
                "metrics": [{"metrics.json": {"cache": False}}],
                "plots": [{"curve.csv": {"cache": False, "x": "step", "y": "value"}}],
            },
        }
    }


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    return done.stdout


def dvc(*args: str) -> None:
    """One `dvc` command in the current directory, as a user types it."""
    assert dvc_main(list(args)) == 0, f"dvc {' '.join(args)} failed"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The toy repo after `dvc repro`, with code, params, dvc.lock and metrics committed."""
    root = tmp_path_factory.mktemp("toy") / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "ci@example.org")
    git(root, "config", "user.name", "CI")
    (root / "prepare.py").write_text(PREPARE)
    (root / "train.py").write_text(TRAIN)
    (root / "params.yaml").write_text(yaml.safe_dump({"prepare": {"n": 5}, "train": {"scale": 2}}))
    (root / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml(sys.executable), sort_keys=False))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        dvc("init", "-q")
        # the repo's own cache only: a user's global cache setting must not leak in
        dvc("config", "--local", "cache.dir", str(root / ".dvc/cache"))
        git(root, "add", "-A")
        git(root, "commit", "-qm", "toy pipeline")
        dvc("repro", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "dvc.lock")
    return root


@pytest.fixture
def toy(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the built toy repo, as the working directory."""
    root = tmp_path / "repo"
    shutil.copytree(built, root, symlinks=True)
    monkeypatch.chdir(root)
    # the copy's cache, not the module fixture's
    dvc("config", "--local", "cache.dir", str(root / ".dvc/cache"))
    return root


def test_push_then_pull_into_an_empty_cache_restores_outputs(toy: Path, tmp_path: Path) -> None:
    outputs = [toy / "data/numbers.txt", toy / "model/weights.txt"]
    before = {p: p.read_bytes() for p in outputs}
    dvc("remote", "add", "-d", "storage", str(tmp_path / "remote"))
    dvc("push", "-q")
    assert any((tmp_path / "remote").rglob("*")), "push wrote nothing to the remote"
    # what a teammate has after `git clone`: no outputs, no cache
    shutil.rmtree(toy / ".dvc/cache")
    shutil.rmtree(toy / "model")
    (toy / "data/numbers.txt").unlink()
    dvc("pull", "-q")
    assert {p: p.read_bytes() for p in outputs} == before
    assert check(toy) == {}  # pulled outputs match dvc.lock


def test_experiment_shows_baseline_and_changed_param_side_by_side(
    toy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dvc("exp", "run", "-q", "-S", "train.scale=3", "-n", "triple")
    capsys.readouterr()
    dvc("exp", "show", "--csv", "--no-pager")
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    baseline = next(r for r in rows if r["rev"] == "main")
    experiment = next(r for r in rows if r["Experiment"] == "triple")
    # total = sum(range(5)) * scale: 10 * 2 on main, 10 * 3 in the experiment
    assert (baseline["train.scale"], baseline["total"]) == ("2", "20")
    assert (experiment["train.scale"], experiment["total"]) == ("3", "30")
    assert yaml.safe_load((toy / "params.yaml").read_text())["train"]["scale"] == 3


def test_lock_check_passes_a_clean_lock_and_a_fresh_clone(toy: Path) -> None:
    assert check(toy) == {}
    # a fresh clone has no DVC outputs: missing data is not lock drift
    shutil.rmtree(toy / "model")
    (toy / "data/numbers.txt").unlink()
    assert check(toy) == {}


def test_lock_check_names_the_stage_whose_params_code_or_outs_changed(toy: Path) -> None:
    shutil.rmtree(toy / "model")  # as on a fresh clone: drift must be caught without the data
    params = yaml.safe_load((toy / "params.yaml").read_text())
    params["train"]["scale"] = 4
    (toy / "params.yaml").write_text(yaml.safe_dump(params))
    (toy / "prepare.py").write_text(PREPARE + "# edited\n")
    problems = check(toy)
    assert problems == {
        "train": ["param train.scale: 2 -> 4"],
        "prepare": ["dep prepare.py modified"],
    }
    # an out declared in dvc.yaml that no run recorded: `dvc status` alone calls it "deleted"
    spec = yaml.safe_load((toy / "dvc.yaml").read_text())
    spec["stages"]["prepare"]["outs"].append("data/extra.txt")
    (toy / "dvc.yaml").write_text(yaml.safe_dump(spec))
    assert "out data/extra.txt is declared but not in dvc.lock" in check(toy)["prepare"]


def test_lock_check_names_each_changed_leaf_of_a_params_section(toy: Path) -> None:
    # `prepare` depends on the whole section: dvc says "prepare modified", the check says which key
    (toy / "params.yaml").write_text(
        yaml.safe_dump({"prepare": {"n": 6, "seed": 1}, "train": {"scale": 2}})
    )
    assert check(toy) == {
        "prepare": ["param prepare.n: 5 -> 6", "param prepare.seed: (absent) -> 1"]
    }


def test_lock_check_exits_nonzero_with_the_stage_name(
    toy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tools.dvc_lock_check import main

    assert main([str(toy)]) == 0
    spec = yaml.safe_load((toy / "dvc.yaml").read_text())
    spec["stages"]["train"]["cmd"] += " --verbose"
    (toy / "dvc.yaml").write_text(yaml.safe_dump(spec))
    assert main([str(toy)]) == 1
    out = capsys.readouterr().out
    assert "stage train:" in out and "cmd differs from dvc.lock" in out


@pytest.mark.skipif(
    not TEMPLATE.exists(),
    reason="offline plots template not built: `npm ci --prefix tools/plots && npm run build "
    "--prefix tools/plots` (needs Node.js; .ci/run does it)",
)
def test_plots_show_with_the_offline_template_loads_no_remote_script(toy: Path) -> None:
    default, offline, configured = (toy / f"{k}_plots" for k in ("default", "offline", "config"))
    dvc("plots", "show", "-q", "-o", str(default))
    dvc("plots", "show", "-q", "-o", str(offline), "--html-template", str(TEMPLATE))
    # the README's per-clone default: plots.html_template, a path relative to .dvc/
    dvc("config", "--local", "plots.html_template", os.path.relpath(TEMPLATE, toy / ".dvc"))
    dvc("plots", "show", "-q", "-o", str(configured))
    remote = re.compile(r"""<script[^>]*\ssrc\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)
    default_page = (default / "index.html").read_text()
    assert remote.search(default_page), "dvc's own page no longer loads a CDN: test is stale"
    page = (offline / "index.html").read_text()
    assert not remote.search(page)
    assert (configured / "index.html").read_text() == page
    assert "<script" in page and "vegaEmbed(" in page  # the plot itself is there
    spec = json.loads(re.search(r"var spec = (\{.*?\});\s*vegaEmbed", page, re.S).group(1))
    assert [row["value"] for row in spec["data"]["values"]][:3] == ["0", "2", "4"]

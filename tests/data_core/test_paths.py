"""params `paths:`: one name per stage input/output, shared by dvc.yaml and the stage scripts."""

import re
from pathlib import Path

import pytest
import yaml
from data_core.config import load_params
from data_core.errors import ConfigError
from data_core.paths import stage_paths

ROOT = Path(__file__).resolve().parents[2]


def test_dotted_names_resolve_under_the_root(tmp_path):
    paths = stage_paths({"paths": {"synth": {"scored": "data/synth/scored.parquet"}}}, tmp_path)
    assert paths["synth.scored"] == tmp_path / "data/synth/scored.parquet"
    assert paths.relative("synth.scored") == "data/synth/scored.parquet"


@pytest.mark.parametrize("name", ["synth.missing", "synth.scored.extra", "synth"])
def test_an_unknown_or_partial_name_is_a_config_error_naming_it(tmp_path, name):
    paths = stage_paths({"paths": {"synth": {"scored": "data/synth/scored.parquet"}}}, tmp_path)
    with pytest.raises(ConfigError, match=re.escape(name)):
        paths[name]


def test_missing_section_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="paths"):
        stage_paths({}, tmp_path)


def test_every_path_reference_in_dvc_yaml_names_a_params_entry():
    """dvc.yaml's ${paths.*} references resolve (DVC would fail late, at `dvc repro` time)."""
    paths = stage_paths(load_params(ROOT / "params.yaml"), ROOT)
    refs = set(re.findall(r"\$\{paths\.([\w.]+)\}", (ROOT / "dvc.yaml").read_text()))
    assert refs, "dvc.yaml names its paths through params"
    for ref in sorted(refs):
        paths[ref]  # raises ConfigError naming the reference


def test_no_stage_output_is_written_literally_in_dvc_yaml():
    """Outputs and data deps go through ${paths...}; only code deps are written literally."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        entries = list(stage.get("outs", [])) + list(stage.get("metrics", []))
        entries += [d for d in stage.get("deps", []) if not d.startswith(("stages/", "packages/"))]
        for entry in entries:
            path = next(iter(entry)) if isinstance(entry, dict) else entry
            assert path.startswith("${"), f"{name}: {path} is not named in params `paths:`"

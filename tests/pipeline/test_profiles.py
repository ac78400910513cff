"""Profiles (configs/profiles/<name>.yaml, selected by params.yaml's `profile:`): each composes
over params.yaml into params every package's config accepts; `embedded` changes nothing; and
dvc.yaml tracks, for every stage, the profile sections it reads, so DVC re-runs what changed."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from data_core.config import DecontaminateConfig, FetchConfig, IngestConfig, load_params
from data_core.config import parse_section as section
from data_core.errors import ConfigError
from data_core.knowledge import parse_domain
from data_core.launch import parse_launch
from evals.config import DevEvalConfig, DiagnoseConfig, ReportConfig, load_evaluate
from rewards.benchmark import RewardEvalConfig
from rewards.config import parse as parse_reward
from rewards.online_config import parse as parse_online
from synth.config import SynthConfig
from trainers.config import SECTIONS, parse

REPO = Path(__file__).resolve().parents[2]
PROFILES = sorted(p.stem for p in (REPO / "configs/profiles").glob("*.yaml"))
DVC_PROFILE = "configs/profiles/${profile}.yaml"
TRAINING = {"pretrain", "sft", "preference", "online_dpo", "reward"}  # dvc.yaml's names

# every params.yaml section with a config model -> its validation, as the stages call it
VALIDATE: dict[str, Any] = {
    **{name: (lambda p, name=name: parse(p, name)) for name in SECTIONS},
    "fetch": lambda p: section(p, "fetch", FetchConfig),
    "ingest": lambda p: section(p, "ingest", IngestConfig),
    "decontaminate": lambda p: section(p, "decontaminate", DecontaminateConfig),
    "knowledge": parse_domain,
    "launch": parse_launch,
    "synth": lambda p: section(p, "synth", SynthConfig),
    "reward": parse_reward,
    "online_dpo": parse_online,
    "reward_eval": lambda p: section(p, "reward_eval", RewardEvalConfig),
    "evaluate": load_evaluate,
    "dev_eval": lambda p: section(p, "dev_eval", DevEvalConfig),
    "diagnose": lambda p: section(p, "diagnose", DiagnoseConfig),
    "report": lambda p: section(p, "report", ReportConfig),
}


def scratch_root(tmp_path: Path, profile: str, **edit: dict[str, Any]) -> Path:
    """The repo's params.yaml and profiles under tmp_path, with `profile` selected."""
    shutil.copytree(REPO / "configs/profiles", tmp_path / "configs/profiles")
    for name, overrides in edit.items():
        (tmp_path / f"configs/profiles/{name}.yaml").write_text(yaml.safe_dump(overrides))
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({**params, "profile": profile}))
    return tmp_path


@pytest.mark.parametrize("profile", PROFILES)
def test_every_section_of_every_profile_validates(profile: str, tmp_path: Path) -> None:
    params = load_params(scratch_root(tmp_path, profile) / "params.yaml")
    raw = yaml.safe_load((REPO / f"configs/profiles/{profile}.yaml").read_text())
    assert set(raw) <= set(VALIDATE), "a profile section no config model checks"
    for name in sorted(set(params) & set(VALIDATE)):
        VALIDATE[name](params)
    cfg = parse_launch(params)
    if cfg.config_file is not None:
        assert (REPO / cfg.config_file).is_file()
    for name in ("sft", "preference"):
        if parse(params, name).deepspeed:
            assert (REPO / parse(params, name).deepspeed).is_file()


def test_profiles_document_hardware_time_memory_cost_and_launcher() -> None:
    for profile in PROFILES:
        header = (REPO / f"configs/profiles/{profile}.yaml").read_text().split("\n\n")[0:3]
        text = "\n".join(header).lower()
        for word in ("hardware", "time", "memory", "cost", "launcher"):
            assert f"{word}" in text, f"{profile}.yaml's header does not state its {word}"


def test_embedded_is_params_yaml_unchanged() -> None:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    assert raw.pop("profile") == "embedded"
    assert load_params(REPO / "params.yaml") == {**raw, "_profile": "embedded"}


def test_composed_params_written_out_load_as_they_are(tmp_path: Path) -> None:
    """A scratch root given the composed params (as tests write them) needs no profile files,
    and nothing is applied twice."""
    composed = load_params(scratch_root(tmp_path / "a", "llama3-8b") / "params.yaml")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(composed))
    assert load_params(tmp_path / "params.yaml") == composed
    assert composed["sft"]["learning_rate"] == 1e-5 and "profile" not in composed


def test_a_profile_overrides_nested_keys_and_keeps_the_rest(tmp_path: Path) -> None:
    over = {"sft": {"learning_rate": 1e-5}, "synth": {"backends": {"base": {"kind": "vllm"}}}}
    params = load_params(scratch_root(tmp_path, "x", x=over) / "params.yaml")
    base = yaml.safe_load((REPO / "params.yaml").read_text())
    assert params["sft"] == {**base["sft"], "learning_rate": 1e-5}
    assert params["synth"]["backends"]["base"] == {
        **base["synth"]["backends"]["base"],
        "kind": "vllm",
    }
    assert params["synth"]["backends"]["kb"] == base["synth"]["backends"]["kb"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"paths": {"metrics": "elsewhere"}}, r"x.yaml: paths: not overridable"),
        ({"sfd": {}}, r"x.yaml: sfd: not a params.yaml section"),
        ({"sft": 3}, r"x.yaml: sft: expected a mapping of overrides"),
    ],
)
def test_bad_profiles_name_file_and_key(tmp_path: Path, overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_params(scratch_root(tmp_path, "x", x=overrides) / "params.yaml")


def test_a_misspelt_profile_key_fails_validation_naming_the_profile(tmp_path: Path) -> None:
    params = load_params(
        scratch_root(tmp_path, "x", x={"sft": {"learning_rat": 1}}) / "params.yaml"
    )
    with pytest.raises(ConfigError, match=r"(?s)sft.learning_rat: unknown key.*profiles/x.yaml"):
        parse(params, "sft")


def test_an_unknown_profile_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no configs/profiles/llama3-9b.yaml; known: \["):
        load_params(scratch_root(tmp_path, "llama3-9b") / "params.yaml")


def _stages() -> dict[str, dict[str, Any]]:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def _params(stage: dict[str, Any]) -> tuple[set[str], set[str]]:
    """A stage's params.yaml sections and the profile sections it tracks."""
    own, profile = set(), set()
    for entry in stage.get("params") or []:
        if isinstance(entry, str):
            own.add(entry.split(".")[0])
        else:
            profile |= set(entry.pop(DVC_PROFILE))
            assert not entry, f"params from another file: {entry}"
    return own, profile


def test_every_stage_tracks_the_profile_sections_it_reads() -> None:
    tracked = set(yaml.safe_load((REPO / "configs/profiles/embedded.yaml").read_text()))
    for profile in PROFILES:  # DVC stops on a tracked section the selected file lacks
        sections = set(yaml.safe_load((REPO / f"configs/profiles/{profile}.yaml").read_text()))
        assert sections == tracked, f"{profile}.yaml: sections differ from embedded.yaml's"
    for name, stage in _stages().items():
        own, profile = _params(stage)
        assert profile == own & tracked, f"dvc.yaml {name}: profile sections {sorted(profile)}"


def test_training_stages_start_through_the_launcher() -> None:
    for name, stage in _stages().items():
        own, profile = _params(stage)
        if name in TRAINING:
            assert stage["cmd"].startswith(f"python stages/launch.py {name}")
            assert "launch" in own and "launch" in profile
            assert "stages/launch.py" in stage["deps"]
        else:
            assert "launch" not in stage["cmd"] and "launch" not in own


def test_dvc_renders_the_selected_profile_file() -> None:
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    with Repo(str(REPO)) as repo:
        files = {
            stage.addressing: {
                Path(d.def_path).as_posix(): d.params
                for d in stage.deps
                if isinstance(d, ParamsDependency)
            }
            for stage in repo.index.stages
        }
    assert files["sft"]["configs/profiles/embedded.yaml"] == ["launch", "pretrain", "sft"]
    assert files["preference@dpo"]["configs/profiles/embedded.yaml"] == ["launch", "preference"]
    assert "configs/profiles/embedded.yaml" not in files["fetch"]

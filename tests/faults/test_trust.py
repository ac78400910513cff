"""Models load from safetensors only, and a model's own code runs only when params allow it.

A directory holding pickle weights (`pytorch_model.bin`), a pickle "bomb" whose unpickling would
write a marker file, and a config naming custom code (`auto_map`, code that writes a marker on
import) are offered to the generation layer's loader, the trainers' loaders and a stage script.
Each is refused with one error naming the path; no marker ever appears.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from data_core import security
from data_core.config import load_params
from data_core.errors import ConfigError
from data_core.io import write_records
from data_core.schemas import Instruction
from generation.errors import GenerationError
from generation.hf import load_hf
from generation.weights import load_pretrained, trl_init_kwargs
from rewards.scoring import RewardModel
from trainers.config import TokenizerConfig
from trainers.model_dir import save_model_dir
from trainers.pretrain import new_model
from trainers.tokenizer import train_bpe
from transformers import AutoModelForCausalLM

from tests.trainers.conftest import TINY_MODEL, corpus, instructions

REPO = Path(__file__).resolve().parents[2]
CUSTOM_CODE = """
from pathlib import Path
from transformers import LlamaConfig, LlamaForCausalLM

Path({marker!r}).write_text("custom code ran")


class CanaryConfig(LlamaConfig):
    model_type = "canary_custom"


class CanaryForCausalLM(LlamaForCausalLM):
    config_class = CanaryConfig
"""


class _Bomb:
    """Unpickling this writes the marker file: what a hostile checkpoint would do instead."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pickle ran"))


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """safe (safetensors), pickle (state dict as pytorch_model.bin only), bomb, custom code."""
    root = tmp_path_factory.mktemp("trust")
    tokenizer = train_bpe(corpus(), TokenizerConfig(vocab_size=300, min_frequency=1))
    model = new_model(TINY_MODEL, tokenizer, seed=0)
    save_model_dir(model, tokenizer, root / "safe")
    out = {"safe": root / "safe", "markers": root / "markers"}
    out["markers"].mkdir()
    for name in ("pickle", "bomb", "custom"):
        shutil.copytree(root / "safe", root / name)
        out[name] = root / name
    for name in ("pickle", "bomb"):
        (root / name / "model.safetensors").unlink()
    torch.save(model.state_dict(), root / "pickle/pytorch_model.bin")
    (root / "bomb/pytorch_model.bin").write_bytes(pickle.dumps(_Bomb(out["markers"] / "bomb")))
    config = json.loads((root / "custom/config.json").read_text())
    config["model_type"] = "canary_custom"
    config["architectures"] = ["CanaryForCausalLM"]
    config["auto_map"] = {
        "AutoConfig": "canary.CanaryConfig",
        "AutoModelForCausalLM": "canary.CanaryForCausalLM",
    }
    (root / "custom/config.json").write_text(json.dumps(config))
    (root / "custom/canary.py").write_text(CUSTOM_CODE.format(marker=str(out["markers"] / "code")))
    return out


LOADERS = {
    "generation.load_hf": lambda path: load_hf(path, device="cpu", dtype="float32"),
    "load_pretrained (sft, dpo ref, pretrain base)": lambda path: load_pretrained(
        AutoModelForCausalLM, path
    ),
    "trl_init_kwargs (dpo/kto/reward policies)": trl_init_kwargs,
    "rewards.RewardModel.load": RewardModel.load,
}


def test_safetensors_weights_load(dirs: dict[str, Path]) -> None:
    model, tokenizer, _ = load_hf(dirs["safe"], device="cpu", dtype="float32")
    ids = tokenizer("Syndrome A is characterized by fever", return_tensors="pt")
    assert model(**ids).logits.shape[-1] == len(tokenizer)
    assert trl_init_kwargs(dirs["safe"], {"dtype": torch.float32}) == {
        "dtype": torch.float32,
        "use_safetensors": True,
        "trust_remote_code": False,
    }


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize("kind", ["pickle", "bomb"])
def test_pickle_weights_are_refused_and_never_unpickled(dirs, loader: str, kind: str) -> None:
    with pytest.raises(GenerationError) as refused:
        LOADERS[loader](dirs[kind])
    message = str(refused.value)
    assert str(dirs[kind]) in message and "pytorch_model.bin" in message
    assert "safetensors" in message and "\n" not in message
    assert not (dirs["markers"] / "bomb").exists()


def test_the_bomb_is_live(dirs, tmp_path: Path) -> None:
    """What the loaders spared us: unpickling the file runs its payload (in a child process)."""
    marker = dirs["markers"] / "bomb"
    code = "import pickle, sys; pickle.loads(open(sys.argv[1], 'rb').read())"
    bomb = str(dirs["bomb"] / "pytorch_model.bin")
    subprocess.run([sys.executable, "-c", code, bomb], check=True, cwd=REPO, timeout=60)
    assert marker.read_text() == "pickle ran"
    marker.unlink()


@pytest.mark.parametrize("loader", LOADERS)
def test_custom_code_is_refused_while_the_switch_is_off(dirs, loader: str) -> None:
    assert security.trust_remote_code() is False  # the default
    with pytest.raises(GenerationError, match="auto_map") as refused:
        LOADERS[loader](dirs["custom"])
    assert str(dirs["custom"]) in str(refused.value) and "security.trust_remote_code" in str(
        refused.value
    )
    assert not (dirs["markers"] / "code").exists()


def test_the_switch_reaches_the_loader(dirs, tmp_path: Path) -> None:
    """security.trust_remote_code: true in params.yaml lets the same directory load (its code runs);
    a child process, so that transformers' module cache and the switch stay out of this one."""
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"security": {"trust_remote_code": True}}))
    code = (
        "import sys; from pathlib import Path; from data_core import security; "
        "from generation.hf import load_hf; security.configure(Path(sys.argv[1])); "
        "model, _, _ = load_hf(sys.argv[2], device='cpu', dtype='float32'); "
        "print(type(model).__name__)"
    )
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path), str(dirs["custom"])],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "CanaryForCausalLM"
    assert (dirs["markers"] / "code").read_text() == "custom code ran"
    (dirs["markers"] / "code").unlink()


def test_the_switch_is_validated(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("security:\n  trust_remote_cod: true\n")
    with pytest.raises(ConfigError, match=r"security\.trust_remote_cod: unknown key"):
        security.configure(tmp_path)
    (tmp_path / "params.yaml").write_text("security:\n  trust_remote_code: maybe\n")
    with pytest.raises(ConfigError, match=r"security\.trust_remote_code"):
        security.configure(tmp_path)
    (tmp_path / "params.yaml").write_text("sft: {}\n")
    assert security.configure(tmp_path).trust_remote_code is False
    assert security.trust_remote_code() is False


def test_a_stage_given_pickle_weights_prints_one_error_line(dirs, tmp_path: Path) -> None:
    """The sft stage with a pickle-only models/base: exit 2, one `error:` line naming the path."""
    params = {
        "paths": load_params(REPO / "params.yaml")["paths"],
        "sft": {"per_device_train_batch_size": 4, "max_length": 64, "max_steps": 1},
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    write_records(tmp_path / "data/sets/sft.parquet", instructions(12), Instruction)
    shutil.copytree(dirs["bomb"], tmp_path / "models/base")
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "HF_HUB_OFFLINE": "1",
    }
    done = subprocess.run(
        [sys.executable, str(REPO / "stages/sft.py"), "--root", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in done.stderr
    assert str(tmp_path / "models/base") in errors[0] and "pytorch_model.bin" in errors[0]
    assert not (dirs["markers"] / "bomb").exists()

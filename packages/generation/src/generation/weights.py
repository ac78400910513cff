"""The one way models and tokenizers are loaded: safetensors only, remote code as params allow.

A pickle checkpoint (`pytorch_model.bin`, `.pt`, `.ckpt`) can run arbitrary code when unpickled,
so a directory without safetensors weights is refused before transformers opens anything; a
model whose config names its own code (`auto_map`) loads only with params.yaml
`security.trust_remote_code: true`. Either refusal is a GenerationError naming the path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from data_core.security import trust_remote_code

from generation.errors import GenerationError

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
CONVERT = (
    "re-save it with `model.save_pretrained(dir)` (transformers writes safetensors) in an "
    "environment you trust, or use the model's safetensors release"
)


def require_safetensors(path: str | Path) -> None:
    """A local model directory must hold safetensors weights; name what it holds instead."""
    folder = Path(path)
    if not folder.is_dir():
        return  # a hub id: transformers asks the hub for safetensors only (use_safetensors)
    if any(folder.glob("*.safetensors")):
        return
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise GenerationError(
            f"{folder}: refusing pickle weights ({', '.join(pickles)}): loading a pickle can run "
            f"code; only safetensors are loaded; {CONVERT}"
        )
    raise GenerationError(f"{folder}: no model weights (*.safetensors) in this directory")


def load_pretrained(auto_class: Any, path: str | Path, **kwargs: Any) -> Any:
    """`auto_class.from_pretrained(path, **kwargs)` with safetensors only and the params' remote
    code switch; a refusal or an unloadable directory is one GenerationError naming `path`."""
    require_safetensors(path)
    return _load(auto_class.from_pretrained, path, use_safetensors=True, **kwargs)


def load_tokenizer(path: str | Path, **kwargs: Any) -> Any:
    """`AutoTokenizer.from_pretrained` with the params' remote code switch, errors wrapped."""
    from transformers import AutoTokenizer

    return _load(AutoTokenizer.from_pretrained, path, **kwargs)


def trl_init_kwargs(path: str | Path, kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """`model_init_kwargs` for a TRL trainer that loads `path` itself: the directory is checked
    first (weights and, through its config, remote code), then loaded by the same rules."""
    from transformers import AutoConfig

    require_safetensors(path)
    _load(AutoConfig.from_pretrained, path)  # refuses a config that names its own code
    return {**(kwargs or {}), "use_safetensors": True, "trust_remote_code": trust_remote_code()}


def _load(load: Any, path: str | Path, **kwargs: Any) -> Any:
    try:
        return load(str(path), trust_remote_code=trust_remote_code(), **kwargs)
    except (OSError, ValueError) as exc:  # what transformers raises for a directory it refuses
        text = str(exc).strip()
        reason = text.splitlines()[0] if text else type(exc).__name__
        if "custom code" in text or "trust_remote_code" in text:
            reason = (
                "it names its own Python code (config.json auto_map), which is not run; set "
                "security.trust_remote_code: true in params.yaml only for code you have read"
            )
        raise GenerationError(f"{path}: cannot load: {reason}") from None

"""params.yaml `security:`: what the process may trust when it loads models (off by default).

Every model loader asks `trust_remote_code()`; the stage entrypoint and the evals runner (so
`ultramedical-eval` too) call `configure(root)`, so one key reaches every loader without threading
it through each stage's config. The section is deliberately not a DVC param of any stage: it
decides whether a load may run a model's own Python code, not what a stage computes.
"""

from __future__ import annotations

from pathlib import Path

from data_core.config import Strict, load_params, parse_section

SECTION = "security"


class SecurityConfig(Strict):
    # True lets transformers import and run the Python files a model directory names in its
    # config.json `auto_map`: only for weights whose code you have read.
    trust_remote_code: bool = False


_current = SecurityConfig()


def configure(root: Path | None) -> SecurityConfig:
    """Read `security:` from root/params.yaml (absent file or section: the safe defaults)."""
    global _current
    params_file = root / "params.yaml" if root is not None else None
    if params_file is None or not params_file.is_file():
        _current = SecurityConfig()
        return _current
    params = load_params(params_file)
    if params.get(SECTION) is None:
        _current = SecurityConfig()
    else:
        _current = parse_section(params, SECTION, SecurityConfig, str(params_file))
    return _current


def trust_remote_code() -> bool:
    """Whether model loaders may run a model directory's own code (params `security`)."""
    return _current.trust_remote_code

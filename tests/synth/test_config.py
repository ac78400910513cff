"""synth's params for generators: a model is required, unknown backends name the key."""

import pytest
from synth.config import BackendConfig


def test_backend_config_needs_a_model_for_llms():
    with pytest.raises(ValueError, match="a transformers backend needs `model`"):
        BackendConfig(kind="transformers")


def test_params_errors_name_the_key():
    from data_core.config import parse_section
    from data_core.errors import ConfigError
    from synth.config import SynthConfig

    bad = {"synth": {"sample": {"panel": [{"backend": "nope"}]}}}
    with pytest.raises(
        ConfigError,
        match=r"params.yaml: synth: .*sample.panel\[0\].backend: unknown backend 'nope'",
    ):
        parse_section(bad, "synth", SynthConfig)
    with pytest.raises(ConfigError, match=r"params.yaml: synth.judge.open_treshold: unknown key"):
        parse_section(
            {"synth": {"sample": {"panel": [{"backend": "kb"}]}, "judge": {"open_treshold": 1}}},
            "synth",
            SynthConfig,
        )

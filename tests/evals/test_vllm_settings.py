"""The vllm backend's engine settings: validated in the model spec, passed to `vllm.LLM`
(tensor / pipeline parallel, Ray, memory share, prefix caching), and absent from cache keys and
reports unless set, so existing cached results stay valid."""

from __future__ import annotations

import pytest
from data_core.config import parse_section
from data_core.errors import ConfigError
from evals.backends import load_backend
from evals.config import ModelSpec

from tests.fixtures.fake_vllm import fake_vllm  # noqa: F401

# the spec keys cache keys recorded before the engine settings existed
IDENTITY = {"name", "path", "backend", "model_id", "base_url", "api_key_env", "chat_template"}


def test_defaults_reach_the_engine_with_prefix_caching_on(fake_vllm) -> None:  # noqa: F811
    built, model = fake_vllm
    load_backend(ModelSpec(name="m", path=str(model), backend="vllm"))
    assert built == [
        {
            "model": str(model),
            "trust_remote_code": False,
            "load_format": "safetensors",
            "tensor_parallel_size": 1,
            "gpu_memory_utilization": 0.9,
            "enable_prefix_caching": True,
        }
    ]


def test_parallel_and_cache_settings_reach_the_engine(fake_vllm) -> None:  # noqa: F811
    built, model = fake_vllm
    spec = ModelSpec(
        name="m70",
        path=str(model),
        backend="vllm",
        tensor_parallel_size=8,
        pipeline_parallel_size=2,
        distributed_executor_backend="ray",
        gpu_memory_utilization=0.85,
        enable_prefix_caching=False,
    )
    load_backend(spec)
    assert {k: v for k, v in built[0].items() if k not in ("model", "trust_remote_code")} == {
        "load_format": "safetensors",
        "tensor_parallel_size": 8,
        "pipeline_parallel_size": 2,
        "distributed_executor_backend": "ray",
        "gpu_memory_utilization": 0.85,
        "enable_prefix_caching": False,
    }


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"backend": "hf", "tensor_parallel_size": 2}, "tensor_parallel_size applies to the vllm"),
        ({"backend": "openai", "enable_prefix_caching": False}, "enable_prefix_caching applies"),
        ({"backend": "vllm", "tensor_parallel_size": 0}, "greater than or equal to 1"),
        ({"backend": "vllm", "gpu_memory_utilization": 1.5}, "less than or equal to 1"),
        ({"backend": "vllm", "distributed_executor_backend": "slurm"}, "'mp' or 'ray'"),
    ],
)
def test_engine_settings_are_validated(over, message) -> None:
    params = {"model": {"name": "m", "path": "models/sft", **over}}
    with pytest.raises(ConfigError, match=rf"params.yaml: model.*: .*{message}"):
        parse_section(params, "model", ModelSpec)


def test_cache_identity_holds_engine_settings_only_where_set() -> None:
    plain = ModelSpec(name="m", path="models/sft", backend="vllm")
    assert set(plain.identity(exclude={"stage", "scorer"})) == IDENTITY
    # a dumped and re-validated spec (dev_eval's copy of evaluate's models) stays valid
    assert ModelSpec.model_validate(ModelSpec(name="h", path="p").model_dump()).backend == "hf"
    split = ModelSpec(name="m", path="models/sft", backend="vllm", tensor_parallel_size=4)
    assert split.identity(exclude={"stage", "scorer"}) == plain.identity(
        exclude={"stage", "scorer"}
    ) | {"tensor_parallel_size": 4}

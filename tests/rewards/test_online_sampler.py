"""Online DPO samples its policy with transformers, or on GPU hosts with a vLLM engine per round
(tensor parallel, prefix caching), behind the same response cache; checked with a stand-in vllm."""

from __future__ import annotations

import pytest
from generation import CachedGenerator
from pydantic import ValidationError
from rewards.online import cached_policy_generators
from rewards.online_config import OnlineDpoConfig

from tests.fixtures.fake_vllm import fake_vllm  # noqa: F401


def test_vllm_sampler_builds_a_tensor_parallel_engine_per_policy(fake_vllm, tmp_path) -> None:  # noqa: F811
    built, policy = fake_vllm
    cfg = OnlineDpoConfig(sampler="vllm", tensor_parallel_size=4, gpu_memory_utilization=0.4)
    make = cached_policy_generators(tmp_path / "cache.sqlite", cfg, "cuda")
    generator = make(policy)
    assert isinstance(generator, CachedGenerator) and generator.inner.kind == "vllm"
    assert built[0]["model"] == str(policy)
    assert built[0]["tensor_parallel_size"] == 4 and built[0]["gpu_memory_utilization"] == 0.4
    assert built[0]["enable_prefix_caching"] is True
    make(policy)  # the next round's policy: a new engine
    assert len(built) == 2


def test_the_default_sampler_is_transformers_and_settings_are_checked() -> None:
    assert OnlineDpoConfig().sampler == "transformers"
    with pytest.raises(ValidationError):
        OnlineDpoConfig(sampler="sglang")
    with pytest.raises(ValidationError):
        OnlineDpoConfig(sampler="vllm", tensor_parallel_size=0)

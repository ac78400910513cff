"""The generation layer's vLLM engine settings (the panel, the judge, synth teachers): prefix
caching on by default, tensor parallel from the backends' positional settings, multi-node
settings through VllmOptions; checked against a stand-in `vllm` module on the CPU."""

from __future__ import annotations

import pytest
from generation.errors import GenerationError
from generation.vllm_engine import VllmGenerator, VllmOptions, load_vllm

from tests.fixtures.fake_vllm import fake_vllm  # noqa: F401


def test_a_generator_caches_shared_prefixes_by_default(fake_vllm) -> None:  # noqa: F811
    built, model = fake_vllm
    VllmGenerator(str(model), 4, 0.8)  # what synth's backends pass
    assert built[0]["enable_prefix_caching"] is True
    assert (built[0]["tensor_parallel_size"], built[0]["gpu_memory_utilization"]) == (4, 0.8)
    assert "pipeline_parallel_size" not in built[0]
    assert "distributed_executor_backend" not in built[0]


def test_options_reach_the_engine(fake_vllm) -> None:  # noqa: F811
    built, model = fake_vllm
    options = VllmOptions(8, 0.85, False, 2, "ray")
    load_vllm(str(model), options=options)
    assert built[0]["tensor_parallel_size"] == 8
    assert built[0]["pipeline_parallel_size"] == 2
    assert built[0]["distributed_executor_backend"] == "ray"
    assert built[0]["enable_prefix_caching"] is False
    assert built[0]["load_format"] == "safetensors"


def test_a_folder_without_safetensors_is_refused_before_the_engine(fake_vllm, tmp_path) -> None:  # noqa: F811
    built, _ = fake_vllm
    (tmp_path / "pickled").mkdir()
    (tmp_path / "pickled" / "pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(GenerationError, match="refusing pickle weights"):
        load_vllm(str(tmp_path / "pickled"))
    assert built == []

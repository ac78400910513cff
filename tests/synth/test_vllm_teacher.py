"""A synth vLLM teacher's engine settings reach `vllm.LLM` (stand-in vllm on the CPU)."""

from __future__ import annotations

from synth.config import BackendConfig
from synth.generators import make_generator

from tests.fixtures.fake_vllm import fake_vllm  # noqa: F401


def test_a_synth_vllm_teacher_spans_nodes_through_ray(fake_vllm, tmp_path) -> None:  # noqa: F811
    built, model = fake_vllm
    cfg = BackendConfig(
        kind="vllm",
        model=str(model),
        tensor_parallel_size=8,
        pipeline_parallel_size=2,
        distributed_executor_backend="ray",
    )
    make_generator("teacher", cfg, tmp_path)
    assert built[0]["tensor_parallel_size"] == 8 and built[0]["pipeline_parallel_size"] == 2
    assert built[0]["distributed_executor_backend"] == "ray"
    assert built[0]["enable_prefix_caching"] is True

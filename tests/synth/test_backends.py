"""transformers backend (batched == one by one), vllm availability, cache keys and factory."""

import pytest
from synth.backends import (
    Backend,
    CachedBackend,
    Generation,
    Request,
    ResponseCache,
    Sampling,
    request_key,
)
from synth.backends.errors import BackendUnavailable
from synth.backends.hf import TransformersBackend
from synth.config import BackendConfig

PROMPTS = ["the answer is bone", "heart", "abnormal muscle tone of the eye is the answer ?",
           "kidney liver brain size", "a", "skin cell growth"]  # fmt: skip


def _requests(temperature: float = 0.0, max_tokens: int = 6) -> list[Request]:
    s = Sampling(temperature, 1.0 if temperature == 0 else 0.9, max_tokens)
    return [Request([{"role": "user", "content": p}], s, seed=3) for p in PROMPTS]


def test_batched_left_padded_generation_matches_one_by_one(tiny_llama):
    batched = TransformersBackend(str(tiny_llama), batch_size=4).generate(_requests())
    single = TransformersBackend(str(tiny_llama), batch_size=1).generate(_requests())
    assert [g.text for g in batched] == [g.text for g in single]
    assert all(g.completion_tokens <= 6 and g.finish_reason in ("stop", "length") for g in batched)


def test_sampling_is_seeded(tiny_llama):
    backend = TransformersBackend(str(tiny_llama), batch_size=3)
    a = backend.generate(_requests(temperature=1.0, max_tokens=8))
    b = backend.generate(_requests(temperature=1.0, max_tokens=8))
    assert [g.text for g in a] == [g.text for g in b]


def test_vllm_backend_reports_what_to_install():
    from synth.backends.vllm_engine import require_vllm

    try:
        require_vllm()
    except BackendUnavailable as exc:
        assert "uv sync --extra gpu" in str(exc) or "CUDA GPU" in str(exc)
        return
    pytest.skip("vLLM and a GPU are present: see test_vllm_generates")


def test_vllm_generates(tiny_llama):
    pytest.importorskip("vllm", reason="vLLM is not installed (GPU hosts: uv sync --extra gpu)")
    import torch

    if not torch.cuda.is_available():
        pytest.skip("vLLM is installed but no CUDA GPU is visible")
    from synth.backends.vllm_engine import VllmBackend

    backend = VllmBackend(str(tiny_llama), gpu_memory_utilization=0.3)
    out = backend.generate(_requests(max_tokens=4))
    assert len(out) == len(PROMPTS) and all(isinstance(g.text, str) for g in out)


def test_request_key_covers_everything_that_changes_a_response():
    base = Request([{"role": "user", "content": "q"}], Sampling(), seed=1, sample=0)
    variants = [
        Request([{"role": "user", "content": "q2"}], Sampling(), 1, 0),
        Request([{"role": "user", "content": "q"}], Sampling(temperature=0.1), 1, 0),
        Request([{"role": "user", "content": "q"}], Sampling(), 2, 0),
        Request([{"role": "user", "content": "q"}], Sampling(), 1, 1),
    ]
    keys = {request_key("kb", "m", base), request_key("kb", "m2", base),
            request_key("openai", "m", base), *(request_key("kb", "m", v) for v in variants)}  # fmt: skip
    assert len(keys) == 7
    assert request_key("kb", "m", base) == request_key("kb", "m", Request(
        [{"role": "user", "content": "q"}], Sampling(), seed=1, sample=0))  # fmt: skip


class Counting(Backend):
    """Counts calls and echoes the prompt."""

    kind = "count"

    def __init__(self):
        super().__init__("counter")

    def generate(self, requests):
        self.stats["calls"] += len(requests)
        return [Generation(f"reply {r.messages[0]['content']} {r.sample}") for r in requests]


def test_cache_persists_across_instances(tmp_path):
    reqs = [Request([{"role": "user", "content": f"q{i}"}]) for i in range(5)]
    first = CachedBackend(Counting(), ResponseCache(tmp_path / "c.sqlite"))
    first.generate(reqs[:3])
    first.close()
    second = CachedBackend(Counting(), ResponseCache(tmp_path / "c.sqlite"))
    out = second.generate(reqs)
    assert [g.text for g in out] == [f"reply q{i} 0" for i in range(5)]
    assert [g.cached for g in out] == [True, True, True, False, False]
    assert second.inner.stats["calls"] == 2 and len(second.cache) == 5


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
        parse_section({"synth": {"sample": {"panel": [{"backend": "kb"}]},
                                 "judge": {"open_treshold": 1}}}, "synth", SynthConfig)  # fmt: skip


def test_model_identity_changes_with_the_weights(tiny_llama, tmp_path):
    import shutil

    from synth.backends.hf import model_fingerprint

    copy = tmp_path / "copy"
    shutil.copytree(tiny_llama, copy)
    assert model_fingerprint(copy) == model_fingerprint(tiny_llama)
    weights = next(copy.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # "retrained": same path, same size, different bytes
    weights.write_bytes(bytes(data))
    assert model_fingerprint(copy) != model_fingerprint(tiny_llama)

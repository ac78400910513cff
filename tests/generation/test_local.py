"""The local generators (transformers batched == one by one, seeded; vLLM availability), the
request key, the response cache and the one model fingerprint."""

import pytest
from generation import (
    CachedGenerator,
    Generation,
    GenerationError,
    Generator,
    Request,
    ResponseCache,
    Sampling,
    model_fingerprint,
    request_key,
)
from generation.hf import HFGenerator

PROMPTS = [
    "the answer is bone",
    "heart",
    "abnormal muscle tone of the eye is the answer ?",
    "kidney liver brain size",
    "a",
    "skin cell growth",
]


def _requests(temperature: float = 0.0, max_tokens: int = 6) -> list[Request]:
    s = Sampling(temperature, 1.0 if temperature == 0 else 0.9, max_tokens)
    return [Request([{"role": "user", "content": p}], s, seed=3) for p in PROMPTS]


def test_batched_left_padded_generation_matches_one_by_one(tiny_llama):
    batched = HFGenerator(str(tiny_llama), batch_size=4).generate(_requests())
    single = HFGenerator(str(tiny_llama), batch_size=1).generate(_requests())
    assert [g.text for g in batched] == [g.text for g in single]
    assert all(g.completion_tokens <= 6 and g.finish_reason in ("stop", "length") for g in batched)


def test_sampling_is_seeded(tiny_llama):
    backend = HFGenerator(str(tiny_llama), batch_size=3)
    a = backend.generate(_requests(temperature=1.0, max_tokens=8))
    b = backend.generate(_requests(temperature=1.0, max_tokens=8))
    assert [g.text for g in a] == [g.text for g in b]


def test_vllm_backend_reports_what_to_install():
    from generation.vllm_engine import require_vllm

    try:
        require_vllm()
    except GenerationError as exc:
        assert "uv sync --extra gpu" in str(exc) or "CUDA GPU" in str(exc)
        return
    pytest.skip("vLLM and a GPU are present: see test_vllm_generates")


def test_vllm_generates(tiny_llama):
    pytest.importorskip("vllm", reason="vLLM is not installed (GPU hosts: uv sync --extra gpu)")
    import torch

    if not torch.cuda.is_available():
        pytest.skip("vLLM is installed but no CUDA GPU is visible")
    from generation.vllm_engine import VllmGenerator

    backend = VllmGenerator(str(tiny_llama), gpu_memory_utilization=0.3)
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
    keys = {
        request_key("kb", "m", base),
        request_key("kb", "m2", base),
        request_key("openai", "m", base),
        *(request_key("kb", "m", v) for v in variants),
    }
    assert len(keys) == 7
    assert request_key("kb", "m", base) == request_key(
        "kb", "m", Request([{"role": "user", "content": "q"}], Sampling(), seed=1, sample=0)
    )


class Counting(Generator):
    """Counts calls and echoes the prompt."""

    kind = "count"

    def __init__(self):
        super().__init__("counter")

    def generate(self, requests):
        self.stats["calls"] += len(requests)
        return [Generation(f"reply {r.messages[0]['content']} {r.sample}") for r in requests]


def test_cache_persists_across_instances(tmp_path):
    reqs = [Request([{"role": "user", "content": f"q{i}"}]) for i in range(5)]
    first = CachedGenerator(Counting(), ResponseCache(tmp_path / "c.sqlite"))
    first.generate(reqs[:3])
    first.close()
    second = CachedGenerator(Counting(), ResponseCache(tmp_path / "c.sqlite"))
    out = second.generate(reqs)
    assert [g.text for g in out] == [f"reply q{i} 0" for i in range(5)]
    assert [g.cached for g in out] == [True, True, True, False, False]
    assert second.inner.stats["calls"] == 2 and len(second.cache) == 5


def test_model_identity_changes_with_the_weights(tiny_llama, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_llama, copy)
    assert model_fingerprint(copy) == model_fingerprint(tiny_llama)
    weights = next(copy.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # "retrained": same path, same size, different bytes
    weights.write_bytes(bytes(data))
    assert model_fingerprint(copy) != model_fingerprint(tiny_llama)


def test_request_key_is_pinned():
    """It keys data/synth/cache and seeds the kb teacher: the same request, the same bytes."""
    request = Request(
        [{"role": "user", "content": "Quelle maladie? é"}],
        Sampling(0.7, 0.95, 64),
        seed=42,
        sample=1,
        context={"kind": "diagnosis", "subject": "OMIM:1"},
    )
    key = request_key("transformers", "models/base@0123456789ab", request)
    assert key == "d7d7e495b10e0804e8f8e78c94b20ebf58e108aa8a849c0fa921829878ee5d19"


def test_one_fingerprint_names_the_hf_generator_and_the_evals_cache_key(tiny_llama, tmp_path):
    from evals.cache import model_identity
    from evals.config import ModelSpec

    fingerprint = model_fingerprint(tiny_llama)
    assert HFGenerator(str(tiny_llama)).model == f"{tiny_llama}@{fingerprint}"
    spec = ModelSpec(name="tiny", path=str(tiny_llama))
    assert model_identity(spec, tmp_path)["fingerprint"] == fingerprint
    assert model_fingerprint(tmp_path / "absent") == model_fingerprint(tmp_path / "also-absent")


def test_dtype_and_device_come_from_the_caller(tiny_llama):
    import torch
    from generation.hf import load_hf, resolve_dtype

    assert resolve_dtype("auto", "cpu") is torch.float32
    assert resolve_dtype("auto", "cuda:0") is torch.bfloat16
    model, tokenizer, device = load_hf(tiny_llama, "cpu", "bfloat16")
    assert device == "cpu" and model.dtype is torch.bfloat16 and not model.training
    assert tokenizer.pad_token is not None


def test_one_llama3_chat_template_renders_meta_s_format(tiny_llama):
    """The canonical template (saved into models/tokenizer): the trainers' tokenizer uses it too."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llama)  # a fixture carrying the canonical template
    messages = [{"role": "user", "content": " hi "}, {"role": "assistant", "content": "yo"}]
    assert tok.apply_chat_template(messages, tokenize=False) == (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nyo<|eot_id|>"
    )

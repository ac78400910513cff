"""The MFU arithmetic of benchmarks/gpu: the FLOPs formula against torch's own FLOP counter on a
real Llama, the peak-rate table, and how step timings become tokens/s."""

import json
import sys

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import LlamaConfig, LlamaForCausalLM

from benchmarks.gpu import hardware
from benchmarks.gpu.train_steps import batch_lengths, throughput


def llama(tied: bool) -> LlamaForCausalLM:
    cfg = LlamaConfig(
        vocab_size=300,
        hidden_size=64,
        intermediate_size=160,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,  # GQA: k/v projections narrower than q
        tie_word_embeddings=tied,
    )
    cfg._attn_implementation = "eager"  # attention as matmuls, which FlopCounterMode counts
    torch.manual_seed(0)
    return LlamaForCausalLM(cfg)


@pytest.mark.parametrize("tied", [True, False])
def test_formula_matches_torch_flop_counter(tied):
    """6N + 12LdT per token is exactly what torch counts for forward + backward over T tokens
    (and 2N + 4LdT for a forward): N = matmul weights, the input embedding a lookup."""
    model, seq = llama(tied), 32
    ids = torch.randint(0, 300, (1, seq))
    with FlopCounterMode(display=False) as forward:
        model(input_ids=ids)
    with FlopCounterMode(display=False) as both:
        model(input_ids=ids).logits.sum().backward()
    n = hardware.matmul_params(model)
    assert forward.get_total_flops() == hardware.forward_flops_per_token(n, 2, 64, seq) * seq
    assert both.get_total_flops() == hardware.train_flops_per_token(n, 2, 64, seq) * seq


def test_tying_changes_the_parameters_not_the_matmuls():
    untied, tied = llama(False), llama(True)
    params = [sum(p.numel() for p in m.parameters()) for m in (untied, tied)]
    assert params[0] == params[1] + 300 * 64  # its own output matrix
    assert hardware.matmul_params(untied) == hardware.matmul_params(tied)


@pytest.mark.parametrize(
    ("name", "peak", "label"),
    [
        ("NVIDIA H100 80GB HBM3", 989e12, "H100 SXM"),
        ("NVIDIA H100 PCIe", 756e12, "H100 PCIe"),
        ("NVIDIA H100 NVL", 835e12, "H100 NVL"),
        ("NVIDIA H200", 989e12, "H200 SXM"),
        ("NVIDIA A100-SXM4-80GB", 312e12, "A100"),
        ("NVIDIA A100 80GB PCIe", 312e12, "A100"),
    ],
)
def test_peak_table(name, peak, label):
    assert hardware.peak_bf16_flops(name) == (peak, label)


def test_unknown_gpu_and_no_gpu_give_reasons_not_figures():
    peak, why = hardware.peak_bf16_flops("NVIDIA GeForce RTX 4090")
    assert peak is None and "RTX 4090" in why and "not in the peak-FLOPs table" in why
    assert hardware.peak_bf16_flops(None)[0] is None
    assert hardware.mfu(1000.0, 1e9, None) is None


def test_mfu_is_achieved_over_peak():
    # 1B matmul params, 2048-token rows, 16 layers x 2048: 40% of an H100's 989 TFLOP/s
    per_token = hardware.train_flops_per_token(10**9, 16, 2048, 2048)
    assert per_token == 6e9 + 12 * 16 * 2048 * 2048
    tokens_per_s = 0.4 * 989e12 / per_token
    assert hardware.mfu(tokens_per_s, per_token, 989e12) == pytest.approx(0.4)


def test_batch_lengths_count_real_tokens():
    padded = {
        "input_ids": torch.zeros(2, 5, dtype=torch.long),
        "attention_mask": torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]),
    }
    assert batch_lengths(padded) == [3, 5]
    flat = {  # padding-free: one row, positions restart per sequence
        "input_ids": torch.zeros(1, 7, dtype=torch.long),
        "position_ids": torch.tensor([[0, 1, 2, 0, 1, 0, 1]]),
    }
    assert batch_lengths(flat) == [3, 2, 2]
    assert batch_lengths({"input_ids": torch.zeros(3, 4, dtype=torch.long)}) == [4, 4, 4]


def test_throughput_leaves_out_the_warmup_steps():
    # 4 steps ending at 10, 11, 13, 15 s; one batch per step, the 5th collated ahead (prefetch)
    ends = [10.0, 11.0, 13.0, 15.0]
    batches = [[100], [200], [300, 300], [400], [999]]
    out = throughput(ends, batches, accumulation=1)
    # warm-up = 2 steps: steps 3 and 4 (600 + 400 tokens) in 15 - 11 = 4 s
    assert out["tokens_timed"] == 1000 and out["seconds_timed"] == 4.0
    assert out["tokens_per_s"] == 250.0
    assert out["context"] == pytest.approx((2 * 300**2 + 400**2) / 1000)
    with pytest.raises(RuntimeError, match="need at least 2"):
        throughput([1.0], [[5]], accumulation=1)


def test_fallback_builder_makes_the_pipelines_model(tmp_path, monkeypatch):
    """Where trainers.pretrain cannot import (no polars on the lent GPU machine), the model
    built through transformers is the one trainers.pretrain.new_model builds: same config and
    weights."""
    from safetensors.torch import load_file

    from benchmarks.gpu.model_setup import build_model
    from tests.fixtures.tiny_models import make_tiny_model

    tok = make_tiny_model(tmp_path / "tok", ["a b c d e f g"] * 20, vocab_size=300, hidden_size=16)
    project = build_model("tiny", tok, tmp_path / "project", "cpu", seed=3)
    monkeypatch.setitem(sys.modules, "trainers.pretrain", None)  # import now raises ImportError
    fallback = build_model("tiny", tok, tmp_path / "fallback", "cpu", seed=3)
    assert project["builder"] == "trainers.pretrain.new_model"
    assert fallback["builder"].startswith("transformers.LlamaConfig")
    a, b = (load_file(tmp_path / d / "model.safetensors") for d in ("project", "fallback"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    configs = [
        json.loads((tmp_path / d / "config.json").read_text()) for d in ("project", "fallback")
    ]
    assert configs[0] == configs[1]
    gen = [
        json.loads((tmp_path / d / "generation_config.json").read_text())
        for d in ("project", "fallback")
    ]
    assert gen[0] == gen[1]

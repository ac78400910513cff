"""benchmarks/gpu/run.py end to end on the CPU with a tiny model: every part that can run here
gives its figures, every part that cannot says why, and a part over its time box is stopped."""

import importlib.util
import json

import pytest

from benchmarks.gpu import parts, run
from benchmarks.gpu.workload import MEDQA_PATHS
from tests.fixtures.tiny_models import make_tiny_model

HAS_LM_EVAL = importlib.util.find_spec("lm_eval") is not None
HAS_VLLM = importlib.util.find_spec("vllm") is not None


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    medqa = next((p for p in MEDQA_PATHS if p.is_file()), None)
    if medqa is None:
        pytest.skip(f"MedQA not found at {[str(p) for p in MEDQA_PATHS]}")
    tmp = tmp_path_factory.mktemp("gpu_bench")
    questions = [json.loads(line)["question"] for line in medqa.open(encoding="utf-8")][:200]
    # a tokenizer trained on MedQA (models/tokenizer is a DVC output; this test needs no pull)
    tokenizer = make_tiny_model(tmp / "tok", questions, vocab_size=1024, hidden_size=32, layers=1)
    out = tmp / "results.json"
    argv = [
        "--size",
        "tiny",
        "--device",
        "cpu",
        "--tokenizer",
        str(tokenizer),
        "--out",
        str(out),
        "--steps",
        "4",
        "--batch",
        "2",
        "--max-length",
        "768",
        "--items",
        "12",
        "--gen-prompts",
        "4",
        "--gen-tokens",
        "8",
        "--inline",
        "--work",
        str(tmp / "work"),
    ]
    assert run.main(argv) == 0
    return json.loads(out.read_text())


def test_environment_is_recorded(result):
    env = result["environment"]
    assert env["device"] == "cpu" and env["gpu"] is None
    assert env["versions"]["torch"] and env["versions"]["transformers"]
    assert env["date"][:2] == "20"


def test_training_parts_give_throughput_and_say_why_no_mfu(result):
    for name in ("sft", "dpo"):
        part = result["parts"][name]
        assert part["status"] == "ok", part
        assert part["steps_timed"] >= 1 and part["tokens_timed"] > 0 and part["tokens_per_s"] > 0
        assert part["mfu"] is None and "no CUDA" in part["mfu_reason"]
        assert "CUDA" in part["deepspeed"] and part["deepspeed"].startswith("off")
        assert part["peak_memory_gb"] is None
    # a DPO step also runs the frozen reference's forward: more FLOPs per token than SFT's
    info = result["parts"]["model"]
    n, layers, width = info["matmul_parameters"], info["layers"], info["hidden_size"]
    sft, dpo = result["parts"]["sft"], result["parts"]["dpo"]
    assert sft["flops_per_token"] == pytest.approx(
        6 * n + 12 * layers * width * sft["context"], rel=1e-9
    )
    assert dpo["flops_per_token"] == pytest.approx(
        8 * n + 16 * layers * width * dpo["context"], rel=1e-9
    )


def test_generation_and_vllm(result):
    hf = result["parts"]["hf_generate"]
    assert hf["status"] == "ok" and hf["prompts"] == 4 and 0 < hf["generated_tokens"] <= 4 * 8
    vllm = result["parts"]["vllm_generate"]
    if not HAS_VLLM:
        assert vllm["status"] == "skipped" and vllm["reason"] == "vllm is not installed"
    else:  # installed but no GPU here
        assert vllm["status"] == "skipped" and "CUDA" in vllm["reason"]
    assert result["derived"]["vllm_vs_transformers"] is None
    assert "vllm" in result["derived"]["aims"]["vllm_speedup"]["reason"]


def test_medqa_scoring_both_ways(result):
    ours = result["parts"]["project_eval"]
    assert ours["status"] == "ok" and ours["items"] == 12 and ours["items_per_s"] > 0
    lm = result["parts"]["lm_eval"]
    if not HAS_LM_EVAL:
        assert lm["status"] == "skipped" and "lm_eval" in lm["reason"]
        return
    assert lm["status"] == "ok" and lm["items"] == 12
    derived = result["derived"]
    # the same prompt, continuations and model: the same letters (the CPU benchmark checks this
    # item by item with log-likelihoods; a numerical tie could flip one)
    assert derived["prediction_agreement"] >= 11 / 12
    assert abs(derived["accuracy_difference"]) <= 1 / 12
    assert derived["project_vs_lm_eval"] == pytest.approx(ours["items_per_s"] / lm["items_per_s"])
    aim = derived["aims"]["eval_speedup"]
    assert aim["met"] is None and "H100 or H200" in aim["reason"]  # off-GPU: no verdict


def test_a_part_over_its_time_box_is_stopped_and_recorded(tmp_path):
    spec = {
        "work": str(tmp_path),
        "size": "tiny",
        "device": "cpu",
        "tokenizer": "unused",
        "model_dir": str(tmp_path / "model"),
    }
    out = parts.run_isolated("model", spec, timeout_s=0.5)  # its imports alone take longer
    assert out["status"] == "timeout" and "0.5 s time box" in out["reason"]
    assert out["wall_s"] < 30
    assert not (tmp_path / "model").exists()

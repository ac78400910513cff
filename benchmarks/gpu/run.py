"""One-command GPU benchmark (issue 20): SFT + DPO steps, transformers vs vLLM generation,
project vs lm-eval MedQA scoring, on one GPU; every part that cannot run says why.

    uv run python benchmarks/gpu/run.py --out benchmarks/gpu/results.json [--quick]
    uv run python benchmarks/gpu/run.py --size tiny --device cpu --steps 3 --items 8   # smoke
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: import as the package, never by bare name
    sys.path[0] = str(Path(__file__).resolve().parents[2])

from benchmarks.gpu import hardware, parts, report
from benchmarks.gpu.workload import REPO, find_medqa

# per mode: steps, batch and length of each phase, generation and eval sizes, time boxes (s)
MODES: dict[str, dict[str, Any]] = {
    "full": {
        "sft_steps": 30,
        "sft_batch": 8,
        "sft_max_length": 2048,
        "sft_budget_s": 90,
        "dpo_steps": 20,
        "dpo_batch": 8,
        "dpo_max_length": 1024,
        "dpo_budget_s": 90,
        "gen_prompts": 128,
        "gen_max_tokens": 128,
        "gen_batch": 32,
        "eval_items": 300,
        "deadline_s": 480,
    },
    "quick": {
        "sft_steps": 12,
        "sft_batch": 8,
        "sft_max_length": 2048,
        "sft_budget_s": 25,
        "dpo_steps": 8,
        "dpo_batch": 8,
        "dpo_max_length": 1024,
        "dpo_budget_s": 25,
        "gen_prompts": 64,
        "gen_max_tokens": 64,
        "gen_batch": 32,
        "eval_items": 100,
        "deadline_s": 240,
    },
}
# the time box of each part beyond its training budget: imports, model load and save
OVERHEAD_S = {
    "model": 120,
    "sft": 90,
    "dpo": 90,
    "hf_generate": 120,
    "vllm_generate": 180,
    "project_eval": 90,
    "lm_eval": 150,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "gpu" / "results.json")
    p.add_argument("--model", help="a local HF model dir to benchmark instead of a random init")
    p.add_argument("--size", choices=["1b", "tiny"], default="1b")
    p.add_argument("--tokenizer", default=str(REPO / "models" / "tokenizer"))
    p.add_argument("--medqa", help="MedQA test.jsonl (default: data/raw or ../shared/data)")
    p.add_argument("--device", help="cuda or cpu (default: cuda when visible)")
    p.add_argument("--quick", action="store_true", help="the ~3-minute variant")
    p.add_argument("--steps", type=int, help="SFT and DPO steps (overrides the mode)")
    p.add_argument("--batch", type=int, help="per-device batch of both phases")
    p.add_argument("--max-length", type=int, help="SFT row length (DPO: half)")
    p.add_argument("--items", type=int, help="MedQA items scored")
    p.add_argument("--gen-prompts", type=int)
    p.add_argument("--gen-tokens", type=int)
    p.add_argument(
        "--packing",
        choices=["wrapped", "bfd", "none"],
        default="wrapped",
        help="SFT packing; wrapped: full rows, one causal mask (SDPA's flash kernel)",
    )
    p.add_argument("--no-deepspeed", action="store_true")
    p.add_argument("--only", nargs="+", choices=list(parts.PARTS), help="run these parts only")
    p.add_argument("--inline", action="store_true", help="run parts in this process (no time box)")
    p.add_argument("--work", type=Path, help="scratch dir (default: a temporary one)")
    return p.parse_args(argv)


def make_spec(args: argparse.Namespace, work: Path, device: str) -> dict[str, Any]:
    spec = dict(MODES["quick" if args.quick else "full"])
    overrides = {
        ("sft_steps", "dpo_steps"): args.steps,
        ("sft_batch", "dpo_batch"): args.batch,
        ("eval_items",): args.items,
        ("gen_prompts",): args.gen_prompts,
        ("gen_max_tokens",): args.gen_tokens,
    }
    for keys, value in overrides.items():
        for key in keys if value is not None else ():
            spec[key] = value
    if args.max_length:
        spec |= {"sft_max_length": args.max_length, "dpo_max_length": max(args.max_length // 2, 64)}
    return spec | {
        "device": device,
        "size": args.size,
        "tokenizer": args.tokenizer,
        "medqa": str(find_medqa(args.medqa)),
        "work": str(work),
        "model_dir": args.model or str(work / "model"),
        "packing": args.packing,
        "deepspeed": not args.no_deepspeed,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    work = args.work or Path(tempfile.mkdtemp(prefix="gpu-bench-"))
    spec = make_spec(args, work, device)
    spec["env"] = env = hardware.environment(device)
    result: dict[str, Any] = {
        "environment": env,
        "settings": {k: v for k, v in spec.items() if k != "env"},
        "parts": {},
    }
    deadline = time.monotonic() + spec["deadline_s"]
    for name in parts.PARTS:
        left = deadline - time.monotonic()
        reason = parts.why_not(name, device)
        if args.only and name not in (*args.only, "model"):
            outcome = {
                "status": "skipped",
                "reason": f"not selected (--only {' '.join(args.only)})",
            }
        elif name == "model" and args.model:
            outcome = {"status": "ok", "reason": None} | _describe(args.model)
        elif name != "model" and result["parts"]["model"]["status"] != "ok":
            outcome = {"status": "skipped", "reason": "no model: the model part did not finish"}
        elif reason:
            outcome = {"status": "skipped", "reason": reason}
        elif left < 20:
            outcome = {"status": "skipped", "reason": f"the run's {spec['deadline_s']} s deadline"}
        else:
            print(f"[gpu-bench] {name} ...", file=sys.stderr, flush=True)
            budget = spec.get(f"{name}_budget_s", 0) + OVERHEAD_S[name]
            outcome = _run_part(name, spec, args.inline, min(budget, left))
            if _retry_without_deepspeed(name, spec, outcome, deadline):
                failure = outcome["reason"]
                left = deadline - time.monotonic()
                outcome = _run_part(name, spec | {"deepspeed": False}, args.inline, left)
                outcome["deepspeed"] = f"off: the run under DeepSpeed failed ({failure})"
        if name == "model" and outcome["status"] == "ok":
            spec["model_info"] = {k: v for k, v in outcome.items() if k not in ("status", "reason")}
        result["parts"][name] = outcome
        result["derived"] = report.derive(result["parts"], env["gpu"])
        report.write_json(args.out, result)
    if not args.work:  # the models (~2 GB each at 1B) go; the parts' logs stay for the JSON
        for entry in work.iterdir():
            if entry.is_dir() and entry.name != "logs":
                shutil.rmtree(entry, ignore_errors=True)
    return result


def _run_part(name: str, spec: dict[str, Any], inline: bool, timeout_s: float) -> dict[str, Any]:
    return parts.run_inline(name, spec) if inline else parts.run_isolated(name, spec, timeout_s)


def _retry_without_deepspeed(name: str, spec: dict, outcome: dict, deadline: float) -> bool:
    """A training part that failed under DeepSpeed runs once more without it (its figures still
    say what a plain single-GPU run gives), while the deadline leaves room."""
    under_ds = spec["deepspeed"] and spec["device"].startswith("cuda")
    retry = name in ("sft", "dpo") and outcome["status"] == "failed" and under_ds
    if not retry or importlib.util.find_spec("deepspeed") is None:
        return False
    return deadline - time.monotonic() > spec[f"{name}_budget_s"] + OVERHEAD_S[name] / 2


def _describe(model: str) -> dict[str, Any]:
    from benchmarks.gpu.model_setup import describe_model

    return describe_model(Path(model))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args)
    report.print_table(result)
    print(f"figures: {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

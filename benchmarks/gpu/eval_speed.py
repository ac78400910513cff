"""MedQA option log-likelihood scoring: the project's evals (HFBackend + score_loglik, as
benchmarks/test_loglik_vs_lm_eval.py runs it) against lm-evaluation-harness's HF backend (HFLM).

Both read the same first N questions, use lm-eval's MedQA prompt and the letter continuations
(" A".." D"), and load the same model dir; each timing includes its model load."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from benchmarks.gpu import hardware

# the task file of benchmarks/test_loglik_vs_lm_eval.py (letters), which checks item by item that
# lm-eval and ours agree on this prompt; that module imports pytest, so the text is repeated here
TASK_YAML = """task: medqa_bench
dataset_path: json
dataset_kwargs:
  data_files:
    test: {path}
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{{{question.strip()}}}}\\nA. {{{{options.A}}}}\\nB. {{{{options.B}}}}\\nC. {{{{options.C}}}}\\nD. {{{{options.D}}}}\\nAnswer:"
doc_to_choice: ["A", "B", "C", "D"]
doc_to_target: "{{{{['A', 'B', 'C', 'D'].index(answer_idx)}}}}"
metric_list:
  - metric: acc
"""  # noqa: E501 - lm-eval's prompt, one YAML line
BATCH = 16  # lm-eval's HF batch size, as in the CPU benchmark


def subset_file(spec: dict[str, Any]) -> Path:
    """The first `eval_items` MedQA rows as their own JSONL (lm-eval reads a whole file)."""
    out = Path(spec["work"]) / "medqa_subset.jsonl"
    with open(spec["medqa"], encoding="utf-8") as src:
        rows = [line for line in src if line.strip()][: spec["eval_items"]]
    out.write_text("".join(rows), encoding="utf-8")
    return out


def run_project_eval(spec: dict[str, Any]) -> dict[str, Any]:
    from evals.backends.hf import HFBackend
    from evals.prompts import build_prompt
    from evals.scorers import score_loglik

    from benchmarks.gpu.workload import medqa_items

    subset = subset_file(spec)
    hardware.reset_peak_memory()
    start = time.perf_counter()
    items = medqa_items(subset)
    backend = HFBackend("bench", spec["model_dir"], device=spec["device"])
    load_s = time.perf_counter() - start
    rows = score_loglik(backend, items, [build_prompt(i) for i in items], chat=False)
    seconds = time.perf_counter() - start
    return {
        "items": len(rows),
        "seconds": round(seconds, 3),
        "load_s": round(load_s, 1),
        "items_per_s": len(rows) / seconds,
        "accuracy": sum(r["correct"] for r in rows) / len(rows),
        "predictions": [r["prediction"] for r in rows],
        "peak_memory_gb": hardware.peak_memory_gb(),
    }


def run_lm_eval(spec: dict[str, Any]) -> dict[str, Any]:
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    subset = subset_file(spec)
    tasks = Path(spec["work"]) / "lm_eval_tasks"
    tasks.mkdir(parents=True, exist_ok=True)
    (tasks / "medqa_bench.yaml").write_text(TASK_YAML.format(path=subset), encoding="utf-8")
    hardware.reset_peak_memory()
    start = time.perf_counter()
    lm = HFLM(pretrained=spec["model_dir"], batch_size=BATCH, device=spec["device"])
    load_s = time.perf_counter() - start
    out = simple_evaluate(
        model=lm,
        tasks=["medqa_bench"],
        task_manager=TaskManager(include_path=str(tasks)),
        log_samples=True,
        random_seed=0,
    )
    seconds = time.perf_counter() - start
    samples = sorted(out["samples"]["medqa_bench"], key=lambda s: s["doc_id"])
    # the letter of each sample's highest log-likelihood, for the item-by-item comparison
    predictions = [
        "ABCD"[max(range(4), key=lambda k, s=s: float(s["resps"][k][0][0]))] for s in samples
    ]
    return {
        "items": len(samples),
        "seconds": round(seconds, 3),
        "load_s": round(load_s, 1),
        "items_per_s": len(samples) / seconds,
        "accuracy": out["results"]["medqa_bench"]["acc,none"],
        "predictions": predictions,
        "batch_size": BATCH,
        "peak_memory_gb": hardware.peak_memory_gb(),
    }

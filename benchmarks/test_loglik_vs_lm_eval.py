"""Option log-likelihood on MedQA: ours against lm-evaluation-harness 0.4.x on the same tiny model.

Both score the same N questions of ../shared/data/benchmarks/medqa/test.jsonl with lm-eval's MedQA
prompt ("Question: ...\\nA. ...\\nAnswer:") on the same ~2M-parameter random Llama + byte-level
BPE tokenizer saved to a tmp dir, in two scoring modes: letters (continuations " A".." D", lm-eval's
MedQA task) and texts (continuation " <option text>", several tokens each). Predictions must agree
item by item (up to numerical ties) and the run prints both wall and CPU times, start-up (model
load) included; ours must be at least FLOORS[kind] times as fast in CPU time (README "Floors").
Size: BENCH_EVAL_N (default 200; the full test set: BENCH_EVAL_N=1273).
"""

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "benchmarks"
MEDQA = SHARED / "medqa" / "test.jsonl"
N = int(os.environ.get("BENCH_EVAL_N", "200"))
TIE = 1e-4  # two options whose log-likelihoods differ by less are a numerical tie
# lm-eval / ours speed in CPU time at 200 questions; measured 1.9x-2.1x letters, 2.7x-2.8x texts
# Letters sit lower: lm-eval also runs one context forward for one-token continuations, so the gap
# there is its full-vocabulary projection and start-up (README).
FLOORS = {"letters": 1.3, "texts": 1.6}

TASK_YAML = """task: medqa_{kind}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {path}
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{{{question.strip()}}}}\\nA. {{{{options.A}}}}\\nB. {{{{options.B}}}}\\nC. {{{{options.C}}}}\\nD. {{{{options.D}}}}\\nAnswer:"
doc_to_choice: {choice}
doc_to_target: "{{{{['A', 'B', 'C', 'D'].index(answer_idx)}}}}"
metric_list:
  - metric: acc
  - metric: acc_norm
"""  # noqa: E501 - lm-eval's prompt, one YAML line
# lm-eval's doc_to_choice: a list, or a Jinja template that renders to a Python list literal
CHOICES = {
    "letters": '["A", "B", "C", "D"]',
    "texts": '"{{[options.A, options.B, options.C, options.D]}}"',
}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    if not MEDQA.exists():
        pytest.skip(f"MedQA test file not found at {MEDQA} (../shared/data)")
    pytest.importorskip(
        "lm_eval", reason="lm-eval is the bench group's baseline (uv sync --group bench)"
    )
    from tests.fixtures.tiny_models import make_tiny_model

    tmp = tmp_path_factory.mktemp("bench_eval")
    rows = [json.loads(line) for line in MEDQA.open(encoding="utf-8")]
    model_dir = make_tiny_model(
        tmp / "model",
        [r["question"] for r in rows[:400]],
        vocab_size=2048,
        hidden_size=192,
        layers=4,
    )
    subset = tmp / "medqa.jsonl"
    subset.write_text("".join(json.dumps(r) + "\n" for r in rows[:N]), encoding="utf-8")
    (tmp / "tasks").mkdir()
    for kind, choice in CHOICES.items():
        (tmp / "tasks" / f"medqa_{kind}.yaml").write_text(
            TASK_YAML.format(kind=kind, path=subset, choice=choice), encoding="utf-8"
        )
    return model_dir, subset, tmp / "tasks"


def run_ours(model_dir: Path, subset: Path, kind: str):
    """Load the model, read the items with data_core, score with the shared-context scorer."""
    from data_core.readers import read_source
    from evals.backends.hf import HFBackend
    from evals.prompts import build_prompt
    from evals.scorers import score_loglik

    items = read_source(subset, "medqa", "medqa").records
    backend = HFBackend("tiny", model_dir, device="cpu")
    prompts = [build_prompt(i) for i in items]
    return prompts, score_loglik(backend, items, prompts, chat=False, kind=kind)


def run_lm_eval(model_dir: Path, tasks_dir: Path, kind: str):
    """lm-eval's Python API, offline, HF backend, batch 16, samples logged for the comparison."""
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    lm = HFLM(pretrained=str(model_dir), batch_size=16, device="cpu")
    out = simple_evaluate(
        model=lm,
        tasks=[f"medqa_{kind}"],
        task_manager=TaskManager(include_path=str(tasks_dir)),
        log_samples=True,
        random_seed=0,
    )
    samples = sorted(out["samples"][f"medqa_{kind}"], key=lambda s: s["doc_id"])
    return samples, out["results"][f"medqa_{kind}"]


@pytest.mark.parametrize("kind", ["letters", "texts"])
def test_loglik_matches_lm_eval_and_is_faster(setup, benchmark, kind, assert_ratio):
    model_dir, subset, tasks_dir = setup
    # wall time, and this process's CPU time (steadier when other jobs share the cores)
    t0, c0 = time.perf_counter(), time.process_time()
    samples, lm_results = run_lm_eval(model_dir, tasks_dir, kind)
    lm_s, lm_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    prompts, ours = benchmark.pedantic(
        run_ours, args=(model_dir, subset, kind), rounds=1, iterations=1
    )
    ours_s, ours_cpu = time.perf_counter() - t0, time.process_time() - c0
    assert len(samples) == len(ours) == N
    mismatched = []
    for s, row, prompt in zip(samples, ours, prompts, strict=True):
        assert s["arguments"][0][0] == prompt, "prompts differ from lm-eval's"
        theirs = np.array([float(r[0][0]) for r in s["resps"]])
        mine = np.array(row["logliks"])
        assert np.allclose(theirs, mine, atol=TIE), (theirs, mine)
        pred_theirs = "ABCD"[int(np.argmax(theirs))]
        if (
            pred_theirs != row["prediction"]
            and abs(np.sort(theirs)[-1] - np.sort(theirs)[-2]) > TIE
        ):
            mismatched.append(row["id"])
    assert not mismatched, f"predictions differ beyond numerical ties: {mismatched[:10]}"
    acc_ours = float(np.mean([r["correct"] for r in ours]))
    assert abs(acc_ours - lm_results["acc,none"]) <= 2 / N  # at most a tie or two apart
    norm_ours = float(np.mean([r["correct_norm"] for r in ours]))  # / option length in characters
    assert abs(norm_ours - lm_results["acc_norm,none"]) <= 2 / N
    print(
        f"\nMedQA first {N}, {kind}: lm-eval {lm_s:.2f} s wall / {lm_cpu:.1f} s CPU "
        f"(acc {lm_results['acc,none']:.4f}), "
        f"ours {ours_s:.2f} s wall / {ours_cpu:.1f} s CPU (acc {acc_ours:.4f}), "
        f"speed-up {lm_s / ours_s:.1f}x wall, {lm_cpu / ours_cpu:.1f}x CPU"
    )
    benchmark.extra_info.update(
        lm_eval_s=lm_s,
        ours_s=ours_s,
        ratio=lm_s / ours_s,
        n=N,
        kind=kind,
    )
    assert_ratio(f"{kind}_vs_lm_eval", lm_cpu / ours_cpu, FLOORS[kind])

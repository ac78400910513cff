"""evaluate + report end to end on a tiny model: predictions audit the metrics, the report shows
every section, and its numbers are the metrics files' numbers."""

import json
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml
from data_core.config import parse_section
from data_core.errors import ConfigError, SourceError
from evals import runner
from evals.config import ReportConfig
from evals.report import write_report
from evals.runner import evaluate

from tests.evals.fixtures_tasks import evaluate_config, with_tasks

REPO = Path(__file__).resolve().parents[2]
SECTIONS = [
    "Leaderboard",
    "Accuracy per recipe stage",
    "MMLU medical subjects",
    "Reward models: accuracy per preference category",
    "Data funnel",
    "Training curves (MLflow)",
    "Contamination summary",
    "Data and parameter digests",
]


def _params(model_dir: Path) -> dict:
    return {
        "evaluate": {
            "models": [
                {"name": "base", "path": str(model_dir)},
                {"name": "sft", "path": str(model_dir)},
            ],
            "tasks": [
                {"name": "medqa"},
                {"name": "mmlu_medical", "num_fewshot": 2},
                {"name": "hpo_diagnosis", "choices": "texts"},
                {"name": "hpo_definition", "limit": 5},
            ],
            "comparisons": [["base", "sft"]],
            "bootstrap": {"resamples": 200, "seed": 0},
        },
        "report": {
            "funnel_metrics": [
                "metrics/ingest.json",
                "metrics/decontaminate.json",
                "metrics/contamination.json",
            ]
        },
    }


def _metrics_files(root: Path) -> None:
    (root / "metrics").mkdir(exist_ok=True)
    (root / "metrics/ingest.json").write_text(
        json.dumps({"total": {"read": 5858, "kept": 5850}, "hpo": {"diseases": 12687}})
    )
    (root / "metrics/decontaminate.json").write_text(
        json.dumps({"instructions": {"read": 79, "kept": 71}})
    )
    completion = {"screened": 50, "removed": {"ngram_overlap": 2}, "kept": 48}
    instruction = {"screened": 79, "removed": {"exact_duplicate": 7, "stem_containment": 1}}
    (root / "metrics/contamination.json").write_text(
        json.dumps(
            {
                "stages": {
                    "build": {"completion": completion},
                    "decontaminate": {"instruction": instruction | {"kept": 71}},
                },
                "benchmarks": {"medqa": {"items": 1273, "items_matched": 2, "records_removed": 3}},
            }
        )
    )


def test_evaluate_then_report(eval_files, tiny_model):
    root = eval_files
    params = _params(tiny_model)
    cfg = evaluate_config(params)
    result = evaluate(cfg, root)
    m = result.metrics
    assert set(m["models"]) == {"base", "sft"}
    assert m["tasks"]["medqa"]["items"] == 30 and m["tasks"]["hpo_definition"]["items"] == 5
    # every number can be audited from the per-item predictions
    for (model, task), path in ((k.split("__"), v) for k, v in result.predictions.items()):
        frame = pl.read_parquet(path)
        assert {"id", "gold", "prediction", "logliks", "correct"} <= set(frame.columns)
        assert frame["correct"].mean() == pytest.approx(m["models"][model][task]["acc"])
        assert (
            m["models"][model][task]["acc_low"]
            <= m["models"][model][task]["acc"]
            <= m["models"][model][task]["acc_high"]
        )
    mmlu = m["models"]["base"]["mmlu_medical"]
    assert set(mmlu["subjects"]) == {"anatomy", "medical_genetics", "college_biology"}
    assert sum(s["n"] for s in mmlu["subjects"].values()) == 24
    # the same model twice: identical predictions, no difference
    comp = m["comparisons"]["sft_vs_base"]["medqa"]
    assert comp["diff"] == 0 and comp["mcnemar_p"] == 1.0

    (root / "metrics").mkdir(exist_ok=True)
    (root / "metrics/eval.json").write_text(json.dumps(m))
    _metrics_files(root)
    rcfg = parse_section(params, "report", ReportConfig)
    ctx = write_report(rcfg, root)
    html = (root / rcfg.html).read_text()
    for section in SECTIONS:
        assert f">{section}</h2>" in html.replace("&amp;", "&"), section
    assert "Not yet produced" in html  # no metrics/reward_eval.json
    assert html.count("data:image/png;base64,") >= 3
    for task in m["tasks"]:
        cell = m["models"]["sft"][task]
        assert (
            f"{100 * cell['acc']:.2f} [{100 * cell['acc_low']:.1f}, {100 * cell['acc_high']:.1f}]"
            in html
        )
    md = (root / rcfg.markdown).read_text()
    row = next(line for line in md.splitlines() if line.startswith("| base |"))
    assert row.count("[") == len(m["tasks"])
    assert f"{100 * m['models']['base']['medqa']['acc']:.2f}" in row
    assert "not yet produced" in md and "decontaminate: instructions kept 71" in md
    # per screening stage, in pipeline order: texts screened, removed for a benchmark match
    assert [f["count"] for f in ctx["funnel"]] == [5858, 5850, 12687, 79, 71, 79, 1, 50, 2]
    assert ctx["funnel"][-1] == {
        "label": "build: completions removed (benchmark match)",
        "count": 2,
        "source": "metrics/contamination.json:stages.build.completion.removed",
    }
    assert [(r["stage"], r["matched"], r["duplicates"]) for r in ctx["screening"]] == [
        ("decontaminate", 1, 7),
        ("build", 2, 0),
    ]
    by_stage = pl.read_csv(root / "plots/eval_by_stage.csv")
    assert by_stage.filter(pl.col("task") == "medqa")["model"].to_list() == ["base", "sft"]
    assert (root / "plots/mmlu_subjects.csv").exists() and (
        root / "plots/training_curves.csv"
    ).exists()
    # with reward metrics present the section shows them
    (root / "metrics/reward_eval.json").write_text(
        json.dumps({"categories": {"easy": 0.9, "hard": 0.625}})
    )
    html = (write_report(rcfg, root), (root / rcfg.html).read_text())[1]
    assert "Not yet produced" not in html and "62.50" in html


def test_config_errors_name_the_key(tiny_model):
    bad = _params(tiny_model)
    bad["evaluate"]["tasks"].append({"name": "medqa_typo"})
    with pytest.raises(ConfigError, match=r"evaluate: tasks\[4\]\.name: unknown task 'medqa_typo'"):
        evaluate_config(bad)
    bad = _params(tiny_model)
    bad["evaluate"]["modles"] = []
    with pytest.raises(ConfigError, match=r"evaluate\.modles: unknown key"):
        evaluate_config(bad)


def test_one_task_run_twice_under_labels_with_its_own_chat_setting(
    eval_files, tiny_model, monkeypatch
):
    params = _params(tiny_model)
    params["evaluate"]["chat_template"] = "never"
    params["evaluate"]["tasks"] = [
        {"name": "medqa", "limit": 6},
        {
            "name": "medqa",
            "label": "medqa_chat_gen",
            "scorer": "generate",
            "limit": 6,
            "chat_template": "always",
        },
    ]
    dup = {**params["evaluate"], "tasks": [{"name": "medqa"}, {"name": "medqa"}]}
    with pytest.raises(ConfigError, match=r"distinct `label`s: \['medqa', 'medqa'\]"):
        evaluate_config({"evaluate": dup})
    seen = []
    real = runner._score

    def spy(backend, spec, run, items, prompts, chat, cfg, reward=None):
        seen.append((run.key, chat, prompts[0]))
        return real(backend, spec, run, items, prompts, chat, cfg, reward)

    monkeypatch.setattr(runner, "_score", spy)
    result = evaluate(evaluate_config(params), eval_files)
    m = result.metrics
    assert set(m["models"]["base"]) == {"medqa", "medqa_chat_gen"}
    assert m["tasks"]["medqa_chat_gen"] == {
        "task": "medqa",
        "items": 6,
        "scorer": "generate",
        "num_fewshot": 0,
    }
    assert set(m["comparisons"]["sft_vs_base"]) == {"medqa", "medqa_chat_gen"}
    assert (eval_files / "data/eval/predictions/sft__medqa_chat_gen.parquet").exists()
    by_key = {k: (chat, prompt) for k, chat, prompt in seen}
    assert by_key["medqa"][0] is False and not by_key["medqa"][1].startswith("<|")
    assert by_key["medqa_chat_gen"][0] is True  # the model's template wraps this run only
    assert "<|start_header_id|>user<|end_header_id|>" in by_key["medqa_chat_gen"][1]


def test_missing_heldout_file_is_a_clear_error_unless_optional(eval_files, tiny_model):
    params = _params(tiny_model)
    (eval_files / "data/synth/heldout_eval.parquet").unlink()
    cfg = evaluate_config(params)
    with pytest.raises(SourceError, match=r"heldout_eval\.parquet: eval items file not found"):
        evaluate(cfg, eval_files)
    params["evaluate"]["tasks"] = [
        {"name": "hpo_diagnosis", "optional": True},
        {"name": "medqa", "limit": 4},
    ]
    params["evaluate"]["models"] = params["evaluate"]["models"][:1]
    params["evaluate"]["comparisons"] = []
    result = evaluate(evaluate_config(params), eval_files)
    assert result.skipped == ["hpo_diagnosis"] and list(result.metrics["models"]["base"]) == [
        "medqa"
    ]


def test_stages_run_from_the_command_line(eval_files, tiny_model):
    root = eval_files
    params = _params(tiny_model)
    params["evaluate"]["tasks"] = [{"name": "medqa", "limit": 6}, {"name": "mmlu_medical"}]
    (root / "params.yaml").write_text(yaml.safe_dump(with_tasks(params)))
    _metrics_files(root)
    env = {
        "PATH": "/usr/bin:/bin",
        "HF_HUB_OFFLINE": "1",
        "MLFLOW_TRACKING_URI": f"sqlite:///{root}/mlflow.db",
    }
    for stage in ("evaluate", "report"):
        done = subprocess.run(
            [sys.executable, str(REPO / f"stages/{stage}.py"), "--root", str(root)],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((root / "metrics/eval.json").read_text())
    assert metrics["tasks"]["medqa"]["items"] == 6
    assert re.search(r"base.*sft", (root / "reports/summary.md").read_text(), re.S)
    # a bad params file: one clear line, exit code 2
    params["evaluate"]["tasks"] = [{"name": "medqa", "scorer": "vote"}]
    (root / "params.yaml").write_text(yaml.safe_dump(with_tasks(params)))
    done = subprocess.run(
        [sys.executable, str(REPO / "stages/evaluate.py"), "--root", str(root)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 2 and "evaluate.tasks[0].scorer" in done.stderr


def test_each_model_is_asked_in_its_natural_format(eval_files, tiny_model, monkeypatch):
    """A base is asked as cloze ("Question: ... Answer:"); a chat model inside its template, in
    the training data's instruction format; a task run's own chat_template overrides both."""
    seen: dict[tuple[str, bool, str], list[str]] = {}
    scorers: dict[tuple[str, str], str] = {}

    def spy(backend, spec, run, items, prompts, chat, cfg, reward=None):
        seen[backend.name, chat, run.key] = list(prompts)
        scorers[backend.name, run.key] = run.scorer
        return [
            {"id": i.id, "gold": i.answer, "prediction": "A", "correct": i.answer == "A"}
            for i in items
        ]

    monkeypatch.setattr(runner, "_score", spy)
    params = {
        "evaluate": {
            "models": [
                {"name": "base", "path": str(tiny_model), "chat_template": "never"},
                {
                    "name": "sft",
                    "path": str(tiny_model),
                    "chat_template": "always",
                    "scorer": "generate",
                },
            ],
            "tasks": [
                {"name": "hpo_diagnosis", "limit": 3},
                {
                    "name": "hpo_diagnosis",
                    "label": "cloze",
                    "limit": 3,
                    "chat_template": "never",
                    "scorer": "loglik",
                },
            ],
            "cache_dir": None,
            "bootstrap": {"resamples": 100},
        }
    }
    evaluate(evaluate_config(params), eval_files)
    # (the chat flag _score gets means "a fresh assistant turn": hpo_diagnosis prefills it)
    assert set(seen) == {
        ("base", False, "hpo_diagnosis"),
        ("sft", False, "hpo_diagnosis"),
        ("base", False, "cloze"),
        ("sft", False, "cloze"),
    }
    # a run naming no scorer takes the model's own: greedy answers for the chat model
    assert scorers == {
        ("base", "hpo_diagnosis"): "loglik",
        ("sft", "hpo_diagnosis"): "generate",
        ("base", "cloze"): "loglik",
        ("sft", "cloze"): "loglik",
    }
    cloze = seen["base", False, "hpo_diagnosis"][0]
    assert cloze.startswith("Question: ") and cloze.endswith("\nAnswer:")
    assert seen["sft", False, "cloze"] == seen["base", False, "hpo_diagnosis"]
    chat = seen["sft", False, "hpo_diagnosis"][0]
    assert "<|start_header_id|>user<|end_header_id|>" in chat and "Question:" not in chat
    assert "Answer with the letter of the correct option, then explain briefly." in chat
    assert chat.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")


def test_a_task_run_can_be_limited_to_some_models(eval_files, tiny_model):
    params = {
        "evaluate": {
            "models": [
                {"name": "base", "path": str(tiny_model)},
                {"name": "sft", "path": str(tiny_model)},
            ],
            "tasks": [
                {"name": "medqa", "limit": 4, "models": ["base"]},
                {"name": "hpo_diagnosis", "limit": 4},
            ],
            "comparisons": [["base", "sft"]],
            "cache_dir": None,
            "bootstrap": {"resamples": 100},
        }
    }
    m = evaluate(evaluate_config(params), eval_files).metrics
    assert set(m["models"]["base"]) == {"medqa", "hpo_diagnosis"}
    assert set(m["models"]["sft"]) == {"hpo_diagnosis"}
    assert set(m["comparisons"]["sft_vs_base"]) == {"hpo_diagnosis"}
    params["evaluate"]["tasks"][0]["models"] = ["nobody"]
    with pytest.raises(ConfigError, match="unknown models"):
        evaluate_config(params)


def test_dev_eval_takes_evaluate_settings_with_its_own_models_tasks_and_outputs(tiny_model):
    from evals.config import DevEvalConfig

    base = evaluate_config(_params(tiny_model))
    dev = DevEvalConfig(
        models=["sft"],
        tasks=[{"name": "hpo_diagnosis_dev", "label": "d"}],
        predictions_dir="data/eval/dev",
        metrics="metrics/dev.json",
    )
    cfg = dev.evaluate_config(base)
    assert [m.name for m in cfg.models] == ["sft"] and [t.key for t in cfg.tasks] == ["d"]
    assert cfg.cache_dir is None and cfg.predictions_dir == "data/eval/dev"
    assert cfg.bootstrap == base.bootstrap and cfg.batch_tokens == base.batch_tokens
    with pytest.raises(ValueError, match=r"not in evaluate\.models"):
        DevEvalConfig(models=["gpt"], tasks=[{"name": "hpo_diagnosis_dev"}]).evaluate_config(base)


def test_prefill_opens_the_answer_in_chat_and_primes_a_cloze_only_when_asked(
    eval_files, tiny_model, monkeypatch
):
    from data_core.io import read_records, write_records
    from data_core.schemas import EvalItem

    path = eval_files / "data/synth/heldout_eval.parquet"
    items = read_records(path, EvalItem)
    for item in items:
        item.meta["answer_prefix"] = f"A patient with finding {item.id} may have"
    write_records(path, items, EvalItem)
    seen: dict[tuple[str, str], list[str]] = {}

    def spy(backend, spec, run, items, prompts, chat, cfg, reward=None):
        seen[backend.name, run.key] = list(prompts)
        return score_loglik(backend, items, prompts, chat=chat, kind="texts")

    from evals.scorers import score_loglik

    monkeypatch.setattr(runner, "_score", spy)
    params = {
        "evaluate": {
            "models": [
                {"name": "base", "path": str(tiny_model), "chat_template": "never"},
                {"name": "sft", "path": str(tiny_model), "chat_template": "always"},
            ],
            "tasks": [
                {"name": "hpo_diagnosis", "limit": 2},
                {
                    "name": "hpo_diagnosis",
                    "label": "primed",
                    "limit": 2,
                    "prefill": "always",
                    "chat_template": "never",
                },
            ],
            "cache_dir": None,
            "bootstrap": {"resamples": 100},
        }
    }
    evaluate(evaluate_config(params), eval_files)
    first = items[0].id
    assert seen["base", "hpo_diagnosis"][0].endswith("\nAnswer:")  # the natural cloze: no prefill
    assert seen["sft", "hpo_diagnosis"][0].endswith(
        f"<|start_header_id|>assistant<|end_header_id|>\n\nA patient with finding {first} may have"
    )
    for model in ("base", "sft"):
        assert seen[model, "primed"][0].endswith(
            f"\nAnswer: A patient with finding {first} may have"
        )

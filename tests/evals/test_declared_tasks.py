"""Tasks are data: a new benchmark file is one `ingest.eval_sets` entry, read by ingest (what
decontamination checks against) and evaluated as declared, with no Python."""

from pathlib import Path

import polars as pl
import pytest
from data_core.config import IngestConfig, parse_section
from data_core.errors import ConfigError
from data_core.ingest import OUTPUTS, ingest, write_ingest
from evals.config import load_evaluate
from evals.runner import evaluate

from tests.evals.fixtures_tasks import PARAMS, REPO, evaluate_config

LIMIT = 40  # the first items of the 1,273: identical predictions need no more


def _declared(name: str) -> dict:
    return next(dict(e) for e in PARAMS["ingest"]["eval_sets"] if e["name"] == name)


def test_the_medqa_file_under_a_new_name_gets_the_builtin_medqa_predictions(
    shared_data: Path, tiny_model: Path, tmp_path: Path
):
    # the README's "add your own benchmark" entry: a file in the MedQA row format
    mine = {
        "name": "my_medqa",
        "format": "medqa",
        "path": str(shared_data / "benchmarks/medqa/test.jsonl"),
    }
    builtin = {**_declared("medqa"), "path": str(shared_data / "benchmarks/medqa/test.jsonl")}
    models = [
        {"name": "base", "path": str(tiny_model), "chat_template": "never"},
        {"name": "sft", "path": str(tiny_model), "chat_template": "always"},
    ]
    params = {
        "ingest": {"hpo": {"enabled": False}, "eval_sets": [builtin, mine]},
        "evaluate": {
            "models": models,
            "tasks": [{"name": "medqa", "limit": LIMIT}, {"name": "my_medqa", "limit": LIMIT}],
            "cache_dir": None,
            "bootstrap": {"resamples": 100},
        },
    }
    # ingest reads both into the eval items decontamination uses; evaluate reads them back
    result = ingest(parse_section(params, "ingest", IngestConfig), REPO)
    interim = {name: tmp_path / f"data/interim/{name}.parquet" for name in OUTPUTS}
    write_ingest(result, interim, tmp_path / "metrics/ingest.json")
    assert result.counts["eval_sets"]["my_medqa"] == result.counts["eval_sets"]["medqa"]
    out = evaluate(load_evaluate(params), tmp_path)
    assert out.metrics["tasks"]["my_medqa"]["items"] == LIMIT
    for model in ("base", "sft"):
        ours, theirs = (
            pl.read_parquet(out.predictions[f"{model}__{task}"]) for task in ("my_medqa", "medqa")
        )
        assert ours["id"].str.strip_prefix("my_medqa:").to_list() == (
            theirs["id"].str.strip_prefix("medqa:").to_list()
        )
        same = ["gold", "prediction", "logliks", "correct", "correct_norm"]
        assert ours.select(same).equals(theirs.select(same))
        assert set(ours["task"]) == {"my_medqa"}
        cells = (out.metrics["models"][model][t] for t in ("my_medqa", "medqa"))
        assert next(cells) == next(cells)


def test_declared_fields_are_checked_and_used(tiny_model: Path):
    params = {
        "evaluate": {
            "models": [{"name": "base", "path": str(tiny_model)}],
            "tasks": [{"name": "medqa"}],
        }
    }
    cfg = evaluate_config(params)
    assert cfg.catalog["mmlu_medical"].group_by == "subject"
    assert cfg.catalog["hpo_diagnosis"].prefill == "answer_prefix"
    bad = {**params, "ingest": {"eval_sets": [{**_declared("medqa"), "choise": "texts"}]}}
    with pytest.raises(ConfigError, match=r"ingest\.eval_sets\[0\]\.choise: unknown key"):
        evaluate_config(bad)
    twice = {**params, "ingest": {"eval_sets": [_declared("medqa"), {**_declared("medqa")}]}}
    with pytest.raises(ConfigError, match="'medqa' is declared twice"):
        evaluate_config(twice)


def test_a_run_named_eval_sets_runs_every_declared_benchmark_so_one_entry_adds_one():
    """The README's "add your own benchmark": one `ingest.eval_sets` entry, nothing else."""
    params = {
        "ingest": {"eval_sets": [_declared("medqa"), {**_declared("medqa"), "name": "mine"}]},
        "evaluate": {
            "models": [{"name": "base", "path": "models/base"}, {"name": "sft", "path": "s"}],
            "tasks": [
                {"name": "eval_sets", "models": ["base"]},
                {"name": "medqa", "label": "medqa_greedy", "scorer": "generate"},
            ],
        },
    }
    runs = [(t.key, t.models) for t in load_evaluate(params).tasks]
    assert runs == [("medqa", ["base"]), ("mine", ["base"]), ("medqa_greedy", None)]
    params["evaluate"]["tasks"] = [{"name": "eval_sets", "label": "x"}]
    with pytest.raises(ConfigError, match="every benchmark"):
        load_evaluate(params)


def test_the_default_params_run_every_declared_benchmark_on_base_and_sft():
    runs = {t.name: t.models for t in load_evaluate(PARAMS).tasks}
    for entry in PARAMS["ingest"]["eval_sets"]:
        assert runs[entry["name"]] == ["base", "sft"]

"""evaluate resumes: finished (model, task) units come back from the cache, and only those."""

import shutil

import pytest
from evals import runner
from evals.cache import UnitCache, model_identity, unit_key
from evals.config import EvaluateConfig
from evals.runner import evaluate
from evals.tasks import load_items

from tests.evals.fixtures_tasks import evaluate_config


def _cfg(model_dir, **extra) -> EvaluateConfig:
    section = {
        "models": [
            {"name": "base", "path": str(model_dir)},
            {"name": "sft", "path": str(model_dir)},
        ],
        "tasks": [{"name": "medqa"}, {"name": "hpo_diagnosis", "choices": "texts"}],
        "comparisons": [["base", "sft"]],
        "bootstrap": {"resamples": 200, "seed": 0},
        **extra,
    }
    return evaluate_config({"evaluate": section})


def test_second_run_scores_nothing_and_gives_the_same_metrics(eval_files, tiny_model, monkeypatch):
    cfg = _cfg(tiny_model)
    first = evaluate(cfg, eval_files)
    assert first.cache == {"hits": 0, "misses": 4, "pruned": 0}

    def no_scoring(*args, **kwargs):
        raise AssertionError("a cached unit was scored again")

    monkeypatch.setattr(runner, "_score", no_scoring)
    monkeypatch.setattr(runner, "load_backend", no_scoring)  # not even loaded when all is cached
    second = evaluate(cfg, eval_files)
    assert second.cache == {"hits": 4, "misses": 0, "pruned": 0}
    assert second.metrics == first.metrics  # results only: no timings, no cache counts


def test_interrupted_run_resumes_with_only_the_missing_units(eval_files, tiny_model, monkeypatch):
    cfg = _cfg(tiny_model)
    fresh_root = eval_files / "fresh"
    shutil.copytree(eval_files / "data", fresh_root / "data")
    reference = evaluate(cfg, fresh_root)  # one uninterrupted run, its own cache

    real_score, calls = runner._score, []

    def interrupted(*args, **kwargs):
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C while the 4th unit (sft, hpo_diagnosis) is scored
        calls.append(args[2].name)
        return real_score(*args, **kwargs)

    monkeypatch.setattr(runner, "_score", interrupted)
    with pytest.raises(KeyboardInterrupt):
        evaluate(cfg, eval_files)
    assert len(list((eval_files / "data/eval/cache").glob("*.parquet"))) == 3

    scored = []

    def counting(*args, **kwargs):
        scored.append(args[2].name)
        return real_score(*args, **kwargs)

    monkeypatch.setattr(runner, "_score", counting)
    resumed = evaluate(cfg, eval_files)
    assert scored == ["hpo_diagnosis"]
    assert resumed.cache == {"hits": 3, "misses": 1, "pruned": 0}
    assert resumed.metrics == reference.metrics


def test_key_follows_what_decides_the_rows(eval_files, tiny_model, tmp_path):
    cfg = _cfg(tiny_model)
    run = cfg.tasks[0]
    items = load_items(
        cfg.catalog["medqa"],
        eval_items=eval_files / "data/interim/eval_items.parquet",
        heldout_items=eval_files / "data/synth/heldout_eval.parquet",
    )
    prompts = runner.task_prompts(items, run, cfg.fewshot_seed)
    model = model_identity(cfg.models[0], eval_files)
    key = unit_key(model, run, items, prompts, cfg)
    assert key == unit_key(model_identity(cfg.models[0], eval_files), run, items, prompts, cfg)
    # batch shapes move float sums in the last bits: a cached row must be the one this config gives
    assert key != unit_key(model, run, items, prompts, _cfg(tiny_model, batch_tokens=4096))
    assert key != unit_key(model, run, items[:-1], prompts[:-1], cfg)
    assert key != unit_key(model, run.model_copy(update={"num_fewshot": 1}), items, prompts, cfg)
    assert key != unit_key(model, run, items, prompts, _cfg(tiny_model, max_length=64))
    assert key != unit_key(model, run, items, prompts, _cfg(tiny_model, chat_template="never"))
    # other weights: same name and path, different files
    changed = tmp_path / "model"
    shutil.copytree(tiny_model, changed)
    (changed / "config.json").write_text(
        (changed / "config.json").read_text().replace("{", '{"note": "retrained",', 1)
    )
    moved = cfg.models[0].model_copy(update={"path": str(changed)})
    other = model_identity(moved, eval_files)
    assert other["fingerprint"] != model["fingerprint"]


def test_unreadable_unit_is_scored_again_and_stale_units_are_pruned(tmp_path):
    cache = UnitCache(tmp_path)
    rows = [{"id": "a", "prediction": "B", "correct": True, "logliks": [-1.0, -0.5]}]
    cache.put("base", "medqa", "k" * 64, rows)
    assert UnitCache(tmp_path).get("base", "medqa", "k" * 64) == rows
    (tmp_path / f"base__medqa__{'k' * 20}.parquet").write_bytes(b"PAR1 truncated")
    (tmp_path / ".base__x.parquet.abc.tmp").write_bytes(b"half")  # a kill -9 mid-write
    old = UnitCache(tmp_path)
    old.put("base", "medqa", "o" * 64, rows)
    again = UnitCache(tmp_path)
    assert again.get("base", "medqa", "k" * 64) is None and again.misses == 1
    assert again.prune() == 2  # the old-key unit and the temp file; the unit in use stays
    assert [p.name for p in tmp_path.iterdir()] == [f"base__medqa__{'k' * 20}.parquet"]


def test_cache_off(eval_files, tiny_model):
    result = evaluate(_cfg(tiny_model, cache_dir=None), eval_files)
    assert result.cache == {"hits": 0, "misses": 0, "pruned": 0}
    assert not (eval_files / "data/eval/cache").exists()

"""The contamination stage: every screening stage's removal table and counts become one table and
one report whose counts reconcile; a table that disagrees with its stage's metrics stops it."""

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml
from data_core.clean import decontaminate
from data_core.config import DecontaminateConfig
from data_core.contamination_report import ReconciliationError, aggregate, pipeline_screens
from data_core.io import write_json, write_records
from data_core.paths import stage_paths
from data_core.schemas import Completion, EvalItem, Instruction, Message
from data_core.screen import Screen, read_removals, write_removals

REPO = Path(__file__).resolve().parents[2]
PARAMS = {"paths": yaml.safe_load((REPO / "params.yaml").read_text())["paths"]}
CFG = DecontaminateConfig.model_validate({"embedding": {"enabled": False}})
ITEMS = [
    EvalItem(
        id="medqa:1",
        task="medqa",
        question="A 61-year-old man has crushing substernal chest pain radiating to the left arm "
        "and jaw for two hours with diaphoresis. Which enzyme rises first after the infarction?",
        options={"A": "Troponin I", "B": "Lipase", "C": "Amylase"},
        answer="A",
    ),
    EvalItem(
        id="pubmedqa:2",
        task="pubmedqa",
        question="Do statins reduce the risk of sepsis-related mortality in elderly patients "
        "admitted to intensive care units with community-acquired pneumonia?",
        options={"A": "yes", "B": "no", "C": "maybe"},
        answer="A",
    ),
]


def _instruction(key: str, text: str) -> Instruction:
    return Instruction(
        id=f"src:{key}",
        source="src",
        type="open",
        messages=[Message(role="user", content=text), Message(role="assistant", content="Ok.")],
    )


def stage_outputs(root: Path) -> None:
    """What decontaminate, build, online_dpo and reward leave: tables and metrics."""
    paths = stage_paths(PARAMS, root)
    write_records(paths["interim.eval_items"], ITEMS, EvalItem)
    clean = decontaminate(
        [
            _instruction("1", "Explain how loop diuretics act on the thick ascending limb."),
            _instruction("2", "Explain how loop diuretics act on the thick ascending limb."),
            _instruction("3", "Quiz: " + ITEMS[0].full_text),
        ],
        [],
        ITEMS,
        CFG,
    )
    write_removals(paths["clean.removed"], clean.removed)
    write_json(paths["metrics"] / "decontaminate.json", clean.report)
    build = Screen(ITEMS, CFG, "build")
    texts = ["The answer is A.", "The answer is B."]
    completions = [
        Completion(prompt_id="k:1", model="kb", sample=i, text=t) for i, t in enumerate(texts)
    ]
    synthesized = [_instruction("8", "Recall: " + ITEMS[1].full_text), _instruction("9", "Goitre?")]
    _, removed = build.split(synthesized, lambda r: r.messages[0].content, "instruction")
    build.split(completions, lambda c: c.text, "completion")
    write_removals(paths["synth.removed"], removed)
    write_json(paths["metrics"] / "build.json", {"sft": 1, "contamination": build.counts(removed)})
    online = {"online_response": {"screened": 8, "removed": {}, "kept": 8}}
    write_removals(paths["synth.online_removed"], [])
    write_json(
        paths["metrics"] / "online_dpo.json", {"round_1.prompts": 2, "contamination": online}
    )
    write_json(paths["metrics"] / "reward.json", {"extra_pairs": 0, "extra_sources": {}})


def test_one_table_and_reconciled_counts(tmp_path):
    stage_outputs(tmp_path)
    paths = stage_paths(PARAMS, tmp_path)
    table, report = aggregate(pipeline_screens(paths), paths["interim.eval_items"])
    assert table.height == 3 and table["stage"].to_list() == ["decontaminate"] * 2 + ["build"]
    assert report["stages"] == {
        "decontaminate": {
            "instruction": {
                "screened": 3,
                "removed": {"exact_duplicate": 1, "ngram_overlap": 1},
                "kept": 1,
            },
            "passage": {"screened": 0, "removed": {}, "kept": 0},
        },
        "build": {
            "completion": {"screened": 2, "removed": {}, "kept": 2},
            "instruction": {"screened": 2, "removed": {"ngram_overlap": 1}, "kept": 1},
        },
        "online_dpo": {"online_response": {"screened": 8, "removed": {}, "kept": 8}},
    }  # reward: no extra pair files, nothing screened
    for counts in report["stages"].values():
        for c in counts.values():
            assert c["screened"] == c["kept"] + sum(c["removed"].values())
    assert report["benchmarks"] == {
        "medqa": {
            "items": 1,
            "items_matched": 1,
            "records_removed": 1,
            "by_rule": {"ngram_overlap": 1},
            "by_stage": {"decontaminate": 1},
        },
        "pubmedqa": {
            "items": 1,
            "items_matched": 1,
            "records_removed": 1,
            "by_rule": {"ngram_overlap": 1},
            "by_stage": {"build": 1},
        },
    }
    # benchmark matches only (not the duplicate), in pipeline order
    assert [(e["id"], e["stage"], e["matched"], e["reason"]) for e in report["examples"]] == [
        ("src:3", "decontaminate", "medqa:1", "ngram_overlap"),
        ("src:8", "build", "pubmedqa:2", "ngram_overlap"),
    ]


def test_reward_extra_pairs_are_counted(tmp_path):
    stage_outputs(tmp_path)
    paths = stage_paths(PARAMS, tmp_path)
    sources = {
        "um": {"read": 10, "quarantined": 2, "kept": 5, "removed": {"stem_containment": 3}},
        "rb": {"read": 4, "quarantined": 0, "kept": 4, "removed": {}},
    }
    write_json(paths["metrics"] / "reward.json", {"extra_pairs": 9, "extra_sources": sources})
    _, report = aggregate(pipeline_screens(paths), paths["interim.eval_items"])
    assert report["stages"]["reward"] == {
        "reward_pair": {"screened": 12, "removed": {"stem_containment": 3}, "kept": 9}
    }


def test_a_table_and_its_metrics_that_disagree_stop_the_stage(tmp_path):
    stage_outputs(tmp_path)
    paths = stage_paths(PARAMS, tmp_path)
    screens, items = pipeline_screens(paths), paths["interim.eval_items"]
    build = json.loads((paths["metrics"] / "build.json").read_text())
    removed = read_removals(paths["synth.removed"])
    write_removals(paths["synth.removed"], [])  # the metrics say one instruction left
    with pytest.raises(ReconciliationError, match=r"removed\.parquet and .*build\.json disagree"):
        aggregate(screens, items)
    write_removals(paths["synth.removed"], removed)
    build["contamination"]["instruction"]["kept"] = 2  # 2 screened != 2 kept + 1 removed
    write_json(paths["metrics"] / "build.json", build)
    with pytest.raises(ReconciliationError, match=r"build instruction: screened 2 != kept 2"):
        aggregate(screens, items)
    write_json(paths["metrics"] / "build.json", {"sft": 1})  # written before any screen
    with pytest.raises(ReconciliationError, match="no `contamination` counts"):
        aggregate(screens, items)


def test_rows_of_another_stage_are_refused(tmp_path):
    stage_outputs(tmp_path)
    paths = stage_paths(PARAMS, tmp_path)
    rows = read_removals(paths["synth.removed"])
    write_removals(
        paths["synth.removed"], [r.model_copy(update={"stage": "decontaminate"}) for r in rows]
    )
    with pytest.raises(ReconciliationError, match="expected only 'build'"):
        aggregate(pipeline_screens(paths), paths["interim.eval_items"])


def test_the_stage_writes_both_files_without_importing_torch(tmp_path):
    stage_outputs(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    script = REPO / "stages/contamination.py"
    code = (
        "import runpy, sys\n"
        f"sys.argv = [{str(script)!r}, '--root', {str(tmp_path)!r}]\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n"
        "print('torch' in sys.modules)\n"
    )
    env = {"MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "False"
    paths = stage_paths(PARAMS, tmp_path)
    table = pl.read_parquet(paths["removed"])
    assert table.height == 3 and set(table["stage"]) == {"decontaminate", "build"}
    report = json.loads((paths["metrics"] / "contamination.json").read_text())
    assert set(report) == {"stages", "benchmarks", "examples"}
    assert "seconds" not in json.dumps(report)  # results only

"""The report lists the outputs dvc.lock pins, except its own stage's, which dvc writes after the
page (listing them would make every page one run behind and no rebuild reproduce dvc.lock), and
no deps (code hashes change with a refactor that `dvc commit` records, outputs unchanged)."""

import yaml
from evals.report import lock_digests

LOCK = {
    "schema": "2.0",
    "stages": {
        "build": {
            "deps": [{"path": "data/synth/scored.parquet", "md5": "a1"}],
            "outs": [{"path": "data/sets/sft.parquet", "md5": "b2"}, {"path": "x", "size": 1}],
        },
        "report": {
            "deps": [{"path": "packages/evals/src/evals", "md5": "c3.dir"}],
            "outs": [
                {"path": "reports/report.html", "md5": "d4"},
                {"path": "plots/eval_by_stage.csv", "md5": "e5"},
            ],
        },
    },
}


def test_own_stage_left_out_others_kept(tmp_path) -> None:
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(LOCK))
    rows = lock_digests(tmp_path, own=["reports/report.html", "reports/summary.md", "plots"])
    assert rows == [{"stage": "build", "path": "data/sets/sft.parquet", "md5": "b2"}]
    # a folder name matches files under it only, not a longer sibling name
    assert [r["stage"] for r in lock_digests(tmp_path, own=["plot"])].count("report") == 2


def test_no_lock_yet(tmp_path) -> None:
    assert lock_digests(tmp_path, own=["reports/report.html"]) == []

"""DVC stage `contamination`: every screening stage's removals -> data/removed.parquet and
metrics/contamination.json (per stage and kind, per benchmark, examples), reconciled."""

from pathlib import Path

from data_core.config import load_params
from data_core.contamination_report import aggregate, pipeline_screens, write_table
from data_core.entrypoint import stage_main
from data_core.io import write_json
from data_core.paths import stage_paths
from data_core.tracking import stage_run


@stage_main
def main(root: Path) -> None:
    """One removal table and one contamination report for every stage that screens text."""
    paths = stage_paths(load_params(root / "params.yaml"), root)
    screens, metrics = pipeline_screens(paths), paths["metrics"] / "contamination.json"
    with stage_run("contamination", {}, root=root) as run:
        table, report = aggregate(screens, paths["interim.eval_items"])
        write_table(paths["removed"], table)
        write_json(metrics, report)
        for screen in screens:
            run.log_input(screen.metrics, f"{screen.stage}.metrics")
            if screen.table is not None:
                run.log_input(screen.table, f"{screen.stage}.removed")
        run.log_output(paths["removed"], "removed")
        run.log_metrics({k: v for k, v in report.items() if k != "examples"})
        run.log_artifact(metrics)


if __name__ == "__main__":
    main()

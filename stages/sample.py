"""DVC stage `sample`: scored instructions -> panel completions (data/synth/completions.parquet)."""

import time
from pathlib import Path

from data_core.entrypoint import stage_main
from data_core.io import read_records, write_json, write_records
from data_core.schemas import Completion, Instruction
from data_core.tracking import stage_run
from synth.sample import sample
from synth.stage_support import is_kb, load_config, open_kb, run_stats, stage_generators


@stage_main
def main(root: Path) -> None:
    """Ask every enabled panel member for n completions per instruction (resumable)."""
    raw, cfg, paths = load_config(root)
    src, out = paths["synth.scored"], paths["synth.completions"]
    with stage_run("sample", raw, root=root) as run:
        start = time.perf_counter()
        records = read_records(src, Instruction)
        names = [m.backend for m in cfg.sample.panel if m.enabled]
        kb = open_kb(paths, cfg) if any(is_kb(cfg, n) for n in names) else None
        with stage_generators(paths, cfg, "sample", names, kb) as generators:
            completions, metrics, timings = sample(records, cfg.sample, generators, cfg.seed)
        write_records(out, completions, Completion)
        write_json(paths["metrics"] / "sample.json", metrics)  # results only: committed to git
        run.log_input(src, "scored")
        run.log_output(out, "completions")
        cost = run_stats(generators, time.perf_counter() - start)
        run.log_metrics({**metrics, **timings, **cost})  # latencies and cost: MLflow only


if __name__ == "__main__":
    main()

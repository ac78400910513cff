"""DVC stage `evolve`: instructions -> parents + evolved children (data/synth/evolved.parquet)."""

import time
from pathlib import Path

from data_core.entrypoint import stage_main
from data_core.io import read_records, write_json, write_records
from data_core.schemas import Instruction
from data_core.tracking import stage_run
from synth.evolve import evolve
from synth.stage_support import llm_only, load_config, open_kb, run_stats, stage_generators


@stage_main
def main(root: Path) -> None:
    """Evolve a share of the instructions in depth and breadth, keeping the parent link."""
    raw, cfg, paths = load_config(root)
    src, out = paths["synth.instructions"], paths["synth.evolved"]
    with stage_run("evolve", raw, root=root) as run:
        start, records = time.perf_counter(), read_records(src, Instruction)
        kb, name = open_kb(paths, cfg), cfg.evolve.backend
        with stage_generators(paths, cfg, "evolve", llm_only(cfg, name), kb) as generators:
            result, metrics = evolve(records, cfg, kb, generators.get(name))
        write_records(out, result, Instruction)
        metrics["total"] = len(result)
        write_json(paths["metrics"] / "evolve.json", metrics)  # results only: committed to git
        run.log_input(src, "instructions")
        run.log_output(out, "evolved")
        run.log_metrics({**metrics, **run_stats(generators, time.perf_counter() - start)})


if __name__ == "__main__":
    main()

"""DVC stage `score`: difficulty/quality annotation and selection -> data/synth/scored.parquet."""

import time
from pathlib import Path

from data_core.entrypoint import stage_main
from data_core.io import read_records, write_json, write_records
from data_core.schemas import Instruction
from data_core.tracking import stage_run
from synth.score import score
from synth.stage_support import llm_only, load_config, open_kb, run_stats, stage_generators


@stage_main
def main(root: Path) -> None:
    """Score every evolved instruction and keep those the params select."""
    raw, cfg, paths = load_config(root)
    src, out = paths["synth.evolved"], paths["synth.scored"]
    with stage_run("score", raw, root=root) as run:
        start, records = time.perf_counter(), read_records(src, Instruction)
        kb, name = open_kb(paths, cfg), cfg.score.backend
        with stage_generators(paths, cfg, "score", llm_only(cfg, name), kb) as generators:
            kept, metrics = score(records, cfg.score, kb, generators.get(name), cfg.seed)
        write_records(out, kept, Instruction)
        write_json(paths["metrics"] / "score.json", metrics)  # results only: committed to git
        run.log_input(src, "evolved")
        run.log_output(out, "scored")
        run.log_metrics({**metrics, **run_stats(generators, time.perf_counter() - start)})


if __name__ == "__main__":
    main()

"""DVC stage `synthesize`: HPO (or text seeds) -> synth instructions + the held-out eval set."""

import time
from pathlib import Path

from data_core.entrypoint import stage_main
from data_core.io import read_records, write_json, write_records
from data_core.schemas import EvalItem, Instruction, Passage
from data_core.tracking import stage_run
from synth.stage_support import (
    KB_TABLES,
    llm_only,
    load_config,
    open_kb,
    run_stats,
    stage_generators,
)
from synth.synthesize import synthesize_kb, synthesize_llm


@stage_main
def main(root: Path) -> None:
    """Write instructions from non-held-out seeds and eval items from held-out ones."""
    raw, cfg, paths = load_config(root)
    out_ins, out_eval = paths["synth.instructions"], paths["synth.heldout_eval"]
    with stage_run("synthesize", raw, root=root) as run:
        start, kb = time.perf_counter(), open_kb(paths, cfg)
        # The kb teacher always writes the held-out eval set (it needs verifiable answers).
        instructions, evals, metrics = synthesize_kb(kb, cfg)
        llm_names = llm_only(cfg, cfg.synthesize.backend)
        with stage_generators(paths, cfg, "synthesize", llm_names, kb) as generators:
            for generator in generators.values():  # an LLM also writes questions from text seeds
                seeds = read_records(paths["clean.passages"], Passage)
                seeds = [p for p in seeds if p.source in cfg.synthesize.seed_sources]
                llm, metrics["llm"] = synthesize_llm(generator, seeds, cfg)
                instructions += llm
        write_records(out_ins, instructions, Instruction)
        write_records(out_eval, evals, EvalItem)
        write_json(paths["metrics"] / "synthesize.json", metrics)  # results only: committed to git
        for name in KB_TABLES:
            run.log_input(paths[name])
        run.log_output(out_ins, "instructions")
        run.log_output(out_eval, "heldout_eval")
        run.log_metrics({**metrics, **run_stats(generators, time.perf_counter() - start)})


if __name__ == "__main__":
    main()

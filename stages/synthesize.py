"""DVC stage `synthesize`: HPO (or text seeds) -> data/synth/instructions.parquet + held-out eval."""

import time
from pathlib import Path

from data_core.cli import stage_main
from data_core.io import read_records, write_json, write_records
from data_core.schemas import EvalItem, Instruction, Passage
from data_core.tracking import stage_run
from synth.runtime import (
    DISEASES,
    TERMS,
    backend_metrics,
    is_kb,
    load_config,
    open_backend,
    open_kb,
)
from synth.synthesize import synthesize_kb, synthesize_llm


@stage_main
def main(root: Path) -> None:
    """Write instructions from non-held-out seeds and eval items from held-out ones."""
    raw, cfg = load_config(root)
    out_ins, out_eval = (
        root / "data/synth/instructions.parquet",
        root / "data/synth/heldout_eval.parquet",
    )
    with stage_run("synthesize", raw, root=root) as run:
        start = time.perf_counter()
        kb = open_kb(root, cfg)
        # The kb teacher always writes the held-out eval set (it needs verifiable answers).
        instructions, evals, metrics = synthesize_kb(kb, cfg)
        if not is_kb(cfg, cfg.synthesize.backend):
            backend = open_backend(root, cfg, cfg.synthesize.backend, "synthesize", kb)
            seeds = [p for p in read_records(root / cfg.synthesize.seed_passages, Passage)
                     if p.source in cfg.synthesize.seed_sources]  # fmt: skip
            llm, llm_metrics = synthesize_llm(backend, seeds, cfg)
            instructions += llm
            metrics.update(llm=llm_metrics, **backend_metrics({cfg.synthesize.backend: backend}))
            backend.close()
        write_records(out_ins, instructions, Instruction)
        write_records(out_eval, evals, EvalItem)
        metrics["seconds"] = round(time.perf_counter() - start, 2)
        write_json(root / "metrics/synthesize.json", metrics)
        for path in (DISEASES, TERMS):
            run.log_input(root / path)
        run.log_output(out_ins, "instructions")
        run.log_output(out_eval, "heldout_eval")
        run.log_metrics(metrics)


if __name__ == "__main__":
    main()

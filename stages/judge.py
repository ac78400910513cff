"""DVC stage `judge`: completions -> judgements (data/synth/judgements.parquet)."""

import time
from pathlib import Path

from data_core.entrypoint import stage_main
from data_core.io import read_records, write_json, write_records
from data_core.schemas import Completion, Instruction, Judgement
from data_core.tracking import stage_run
from synth.judge import judge
from synth.stage_support import llm_only, load_config, open_kb, run_stats, stage_generators


@stage_main
def main(root: Path) -> None:
    """Verify against gold answers and score every completion."""
    raw, cfg, paths = load_config(root)
    src = {"scored": paths["synth.scored"], "completions": paths["synth.completions"]}
    out = paths["synth.judgements"]
    with stage_run("judge", raw, root=root) as run:
        start, records = time.perf_counter(), read_records(src["scored"], Instruction)
        completions = read_records(src["completions"], Completion)
        kb, name, threshold = open_kb(paths, cfg), cfg.judge.backend, cfg.judge.open_threshold
        with stage_generators(paths, cfg, "judge", llm_only(cfg, name), kb) as generators:
            judged = judge(
                records, completions, name, kb, generators.get(name), threshold, cfg.seed
            )
        judgements, metrics = judged
        write_records(out, judgements, Judgement)
        write_json(paths["metrics"] / "judge.json", metrics)  # results only: committed to git
        for key, path in src.items():
            run.log_input(path, key)
        run.log_output(out, "judgements")
        run.log_metrics({**metrics, **run_stats(generators, time.perf_counter() - start)})


if __name__ == "__main__":
    main()

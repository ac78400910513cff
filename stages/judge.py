"""DVC stage `judge`: completions -> judgements (data/synth/judgements.parquet)."""

import time
from pathlib import Path

from data_core.cli import stage_main
from data_core.io import read_records, write_json, write_records
from data_core.schemas import Completion, Instruction, Judgement
from data_core.tracking import stage_run
from synth.judge import judge
from synth.runtime import backend_metrics, is_kb, load_config, open_backend, open_kb


@stage_main
def main(root: Path) -> None:
    """Verify against gold answers and score every completion."""
    raw, cfg = load_config(root)
    src = {"scored": root / "data/synth/scored.parquet",
           "completions": root / "data/synth/completions.parquet"}  # fmt: skip
    out = root / "data/synth/judgements.parquet"
    with stage_run("judge", raw, root=root) as run:
        start = time.perf_counter()
        records = read_records(src["scored"], Instruction)
        completions = read_records(src["completions"], Completion)
        kb = open_kb(root, cfg)
        name, backend = cfg.judge.backend, None
        if not is_kb(cfg, name):
            backend = open_backend(root, cfg, name, "judge", kb)
        judgements, metrics = judge(records, completions, name, kb, backend,
                                    cfg.judge.open_threshold, cfg.seed)  # fmt: skip
        if backend is not None:
            metrics.update(backend_metrics({name: backend}))
            backend.close()
        metrics["seconds"] = round(time.perf_counter() - start, 2)
        write_records(out, judgements, Judgement)
        write_json(root / "metrics/judge.json", metrics)
        for name_, path in src.items():
            run.log_input(path, name_)
        run.log_output(out, "judgements")
        run.log_metrics(metrics)


if __name__ == "__main__":
    main()

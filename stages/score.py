"""DVC stage `score`: difficulty/quality annotation and selection -> data/synth/scored.parquet."""

import time
from pathlib import Path

from data_core.cli import stage_main
from data_core.io import read_records, write_json, write_records
from data_core.schemas import Instruction
from data_core.tracking import stage_run
from synth.runtime import backend_metrics, is_kb, load_config, open_backend, open_kb
from synth.score import score


@stage_main
def main(root: Path) -> None:
    """Score every evolved instruction and keep those the params select."""
    raw, cfg = load_config(root)
    src, out = root / "data/synth/evolved.parquet", root / "data/synth/scored.parquet"
    with stage_run("score", raw, root=root) as run:
        start = time.perf_counter()
        records = read_records(src, Instruction)
        kb = open_kb(root, cfg)
        backend = None
        if not is_kb(cfg, cfg.score.backend):
            backend = open_backend(root, cfg, cfg.score.backend, "score", kb)
        kept, metrics = score(records, cfg.score, kb, backend, cfg.seed)
        if backend is not None:
            metrics.update(backend_metrics({cfg.score.backend: backend}))
            backend.close()
        write_records(out, kept, Instruction)
        metrics["seconds"] = round(time.perf_counter() - start, 2)
        write_json(root / "metrics/score.json", metrics)
        run.log_input(src, "evolved")
        run.log_output(out, "scored")
        run.log_metrics(metrics)


if __name__ == "__main__":
    main()

"""DVC stage `evolve`: instructions -> parents + evolved children (data/synth/evolved.parquet)."""

import time
from pathlib import Path

from data_core.cli import stage_main
from data_core.io import read_records, write_json, write_records
from data_core.schemas import Instruction
from data_core.tracking import stage_run
from synth.evolve import evolve
from synth.runtime import backend_metrics, is_kb, load_config, open_backend, open_kb


@stage_main
def main(root: Path) -> None:
    """Evolve a share of the instructions in depth and breadth, keeping the parent link."""
    raw, cfg = load_config(root)
    src, out = root / "data/synth/instructions.parquet", root / "data/synth/evolved.parquet"
    with stage_run("evolve", raw, root=root) as run:
        start = time.perf_counter()
        records = read_records(src, Instruction)
        kb = open_kb(root, cfg)
        backend = None
        if not is_kb(cfg, cfg.evolve.backend):
            backend = open_backend(root, cfg, cfg.evolve.backend, "evolve", kb)
        result, metrics = evolve(records, cfg, kb, backend)
        if backend is not None:
            metrics.update(backend_metrics({cfg.evolve.backend: backend}))
            backend.close()
        write_records(out, result, Instruction)
        metrics.update(total=len(result), seconds=round(time.perf_counter() - start, 2))
        write_json(root / "metrics/evolve.json", metrics)
        run.log_input(src, "instructions")
        run.log_output(out, "evolved")
        run.log_metrics(metrics)


if __name__ == "__main__":
    main()
